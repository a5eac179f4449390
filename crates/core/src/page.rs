//! Keyset pagination: a page starts after the last key of the previous page, so a page
//! costs the same wherever it is in the listing and concurrent inserts neither
//! duplicate nor skip rows that were already there.

/// Which page to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    /// The sort key of the last item already returned (from the previous page's
    /// [`Page::next`]); `None` for the first page.
    pub after: Option<String>,
    /// At most this many items (1 to 250 at the edge).
    pub limit: usize,
}

impl PageRequest {
    /// The compound cursor (see [`compound_key`]) to continue after: the smallest key on
    /// the first page. A key that is not compound is an invalid `nextToken`.
    pub fn after_compound(&self) -> Result<(&str, i64), crate::JobsError> {
        match self.after.as_deref() {
            None => Ok(("", i64::MIN)),
            Some(k) => split_compound_key(k).ok_or_else(crate::JobsError::invalid_next_token),
        }
    }
}

impl PageRequest {
    /// The compound cursor of a listing that runs either way: the first page of an
    /// ascending listing starts below every key, of a descending one above every key.
    pub fn compound_cursor(&self, ascending: bool) -> Result<(String, i64), crate::JobsError> {
        match self.after.as_deref() {
            None if ascending => Ok((String::new(), i64::MIN)),
            None => Ok((String::new(), i64::MAX)),
            Some(_) => self.after_compound().map(|(k, n)| (k.to_owned(), n)),
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The key to continue after; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Build a page from up to `limit + 1` rows fetched in key order: the extra row
    /// only tells that there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&key)
        } else {
            None
        };
        Page { items: rows, next }
    }
}

/// Keys made of a string and a number (e.g. thing name and execution number), encoded
/// in one string. `/` cannot appear in thing names or job ids, so it separates.
pub fn compound_key(name: &str, number: i64) -> String {
    format!("{name}/{number}")
}

pub fn split_compound_key(key: &str) -> Option<(&str, i64)> {
    let (name, number) = key.rsplit_once('/')?;
    Some((name, number.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_keys() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!((p.items, p.next), (vec![1, 2], Some("2".into())));
        let p = Page::from_rows(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(p.next, None);
        assert_eq!(
            split_compound_key(&compound_key("t:1", 7)),
            Some(("t:1", 7))
        );
        assert_eq!(split_compound_key("nope"), None);
        assert_eq!(split_compound_key("a/b"), None);
        let first = PageRequest {
            after: None,
            limit: 1,
        };
        assert_eq!(first.after_compound(), Ok(("", i64::MIN)));
        let bad = PageRequest {
            after: Some("x".into()),
            limit: 1,
        };
        assert!(bad.after_compound().is_err());
    }
}
