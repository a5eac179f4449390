//! Fuzzes the shorthand parser: it must never panic, every error's caret must point inside
//! (or just past) the input, and a successful parse must be stable when its JSON form is
//! parsed back by the CLI's JSON reader.
#![no_main]

use iotjobs_cli::pyjson::{self, Value};
use iotjobs_cli::shorthand::{self, ShorthandError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match shorthand::parse(input, &shorthand::no_files) {
        Ok(dict) => {
            let text = pyjson::dumps(&Value::Dict(dict.clone()));
            let back = pyjson::loads(&text, false).expect("dumps output is valid JSON");
            assert_eq!(back, Value::Dict(dict));
        }
        Err(ShorthandError::Syntax {
            index, input: s, ..
        })
        | Err(ShorthandError::DuplicateKey {
            index, input: s, ..
        }) => {
            assert!(index <= s.len());
            let _ = ShorthandError::Syntax {
                input: s,
                expected: String::new(),
                actual: String::new(),
                index,
            }
            .to_string();
        }
        Err(ShorthandError::Resource(_)) => unreachable!("no resolver"),
    }
});
