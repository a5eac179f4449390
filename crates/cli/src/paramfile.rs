//! Parameter values loaded from elsewhere, as AWS CLI v1's `awscli/paramfile.py` loads them:
//! `file://PATH` (text, universal newlines, `~` and `$VAR` expanded, relative to the current
//! directory), `fileb://PATH` (bytes) and, for whole option values only, `http://` /
//! `https://` (v1 fetches the URL with a GET and uses the body).
//!
//! Error texts are the AWS CLI's (`Unable to load paramfile file://x: [Errno 2] No such file
//! or directory: 'x'`, `Unable to retrieve <url>: received non 200 status code of 404`),
//! because scripts log them. This module only loads; it does not parse the content.

use crate::pyjson::str_repr;

/// Loaded content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    Bytes(Vec<u8>),
}

/// `get_paramfile(value, prefixes)`: `Ok(None)` when `value` has no paramfile prefix.
/// `remote` adds `http://`/`https://` (the `load-cli-arg` handler; shorthand `@=` and
/// `--cli-input-json`'s own loading only know the local prefixes).
pub fn get_paramfile(value: &str, remote: bool) -> Result<Option<Content>, String> {
    if let Some(path) = value.strip_prefix("file://") {
        return read_file(value, path, false).map(Some);
    }
    if let Some(path) = value.strip_prefix("fileb://") {
        return read_file(value, path, true).map(Some);
    }
    if remote && (value.starts_with("http://") || value.starts_with("https://")) {
        return crate::http::fetch_paramfile_url(value)
            .map(|t| Some(Content::Text(t)))
            .map_err(|e| format!("Unable to retrieve {value}: {e}"));
    }
    Ok(None)
}

fn read_file(original: &str, path: &str, binary: bool) -> Result<Content, String> {
    let file_path = expand_user(&expand_vars(path));
    let bytes = std::fs::read(&file_path).map_err(|e| {
        format!(
            "Unable to load paramfile {original}: {}",
            os_error(&e, &file_path)
        )
    })?;
    if binary {
        return Ok(Content::Bytes(bytes));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        format!(
            "Unable to load paramfile ({file_path}), text contents could not be decoded.  If this is a binary file, please use the fileb:// prefix instead of the file:// prefix."
        )
    })?;
    // Python's text mode reads with universal newlines.
    Ok(Content::Text(
        text.replace("\r\n", "\n").replace('\r', "\n"),
    ))
}

/// Python's `str(OSError)`: `[Errno 2] No such file or directory: 'nope.json'`.
pub fn os_error(e: &std::io::Error, filename: &str) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = e.to_string();
            let strerror = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text)
                .to_string();
            format!("[Errno {code}] {strerror}: {}", str_repr(filename))
        }
        None => e.to_string(),
    }
}

/// `os.path.expanduser`: a leading `~` or `~/`.
pub fn expand_user(path: &str) -> String {
    if (path == "~" || path.starts_with("~/"))
        && let Some(home) = std::env::var_os("HOME")
    {
        return format!("{}{}", home.to_string_lossy(), &path[1..]);
    }
    path.to_string()
}

/// `os.path.expandvars`: `$NAME` and `${NAME}` of set variables; others stay as written.
pub fn expand_vars(path: &str) -> String {
    if !path.contains('$') {
        return path.to_string();
    }
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let (name, end) = if chars.get(i + 1) == Some(&'{') {
                match chars[i + 2..].iter().position(|c| *c == '}') {
                    Some(off) => (
                        chars[i + 2..i + 2 + off].iter().collect::<String>(),
                        i + 3 + off,
                    ),
                    None => (String::new(), i + 1),
                }
            } else {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                (chars[i + 1..j].iter().collect(), j)
            };
            if !name.is_empty() {
                if let Ok(v) = std::env::var(&name) {
                    out.push_str(&v);
                    i = end;
                    continue;
                }
                out.extend(&chars[i..end]);
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_message_is_pythons() {
        let e = get_paramfile("file://definitely-not-here.json", false).unwrap_err();
        assert_eq!(
            e,
            "Unable to load paramfile file://definitely-not-here.json: [Errno 2] No such file or directory: 'definitely-not-here.json'"
        );
    }

    #[test]
    fn text_files_use_universal_newlines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.txt");
        std::fs::write(&p, "a=b\r\nc=d\r").unwrap();
        let got = get_paramfile(&format!("file://{}", p.display()), false).unwrap();
        assert_eq!(got, Some(Content::Text("a=b\nc=d\n".into())));
        assert_eq!(get_paramfile("plain", true).unwrap(), None);
    }
}
