//! The INI grammar of the reference's `ntf-server.ini` (the Haskell `ini` package's
//! `Data.Ini.readIniFile`, as used by `ntfServerCLI`), with the line of every section and key
//! kept so that a bad setting can be named by file, section, key and line.
//!
//! ```text
//! file    = *(line LF)
//! line    = blank / comment / section / setting
//! comment = *WSP ("#" / ";") *CHAR
//! section = *WSP "[" name "]" *WSP
//! setting = *WSP key *WSP ("=" / ":") *WSP value     ; value: the rest of the line, trimmed
//! ```
//!
//! Neither `rust-ini` nor `configparser` reports the line of a key once parsed (only of a
//! syntax error), so this short parser is ours. A duplicate key in a section, or a setting
//! before any section, is an error (the reference would silently take one of them).

use std::fmt;

/// One `key = value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key, trimmed.
    pub key: String,
    /// The value, trimmed (may be empty).
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// One `[NAME]` section and its settings in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The section name.
    pub name: String,
    /// 1-based line number of the header.
    pub line: usize,
    /// The settings.
    pub entries: Vec<Entry>,
}

/// A parsed INI file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ini {
    /// Sections in file order.
    pub sections: Vec<Section>,
}

/// A syntax error: the line and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IniSyntaxError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for IniSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for IniSyntaxError {}

impl Ini {
    /// Parses `text`.
    ///
    /// # Errors
    /// A line that is neither blank, a comment, a section header nor a setting; a setting
    /// outside a section; a section or a key given twice.
    pub fn parse(text: &str) -> Result<Self, IniSyntaxError> {
        let mut ini = Ini::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| IniSyntaxError { line, message };
            let s = raw.trim();
            if s.is_empty() || s.starts_with('#') || s.starts_with(';') {
                continue;
            }
            if let Some(rest) = s.strip_prefix('[') {
                let name = rest.strip_suffix(']').ok_or_else(|| err(format!("section header without ']': {s}")))?.trim();
                if name.is_empty() {
                    return Err(err("empty section name".into()));
                }
                if let Some(prev) = ini.section(name) {
                    return Err(err(format!("section [{name}] already given on line {}", prev.line)));
                }
                ini.sections.push(Section { name: name.into(), line, entries: Vec::new() });
                continue;
            }
            let split = s.find(['=', ':']).ok_or_else(|| err(format!("expected `key = value`, found: {s}")))?;
            let (key, value) = (s[..split].trim(), s[split + 1..].trim());
            if key.is_empty() {
                return Err(err(format!("setting without a key: {s}")));
            }
            let section = ini.sections.last_mut().ok_or_else(|| err(format!("setting `{key}` before any [SECTION]")))?;
            if let Some(prev) = section.entries.iter().find(|e| e.key == key) {
                return Err(err(format!("[{}] {key} already given on line {}", section.name, prev.line)));
            }
            section.entries.push(Entry { key: key.into(), value: value.into(), line });
        }
        Ok(ini)
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The setting `key` of section `name` (the reference's `lookupValue`).
    pub fn entry(&self, section: &str, key: &str) -> Option<&Entry> {
        self.section(section)?.entries.iter().find(|e| e.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_settings_and_comments_with_lines() {
        let ini = Ini::parse("# top\n[A]\nx = 1\n; c\n  y:  two words  \nz =\n\n[B]\nk=v=w\n").unwrap();
        assert_eq!(ini.sections.len(), 2);
        let x = ini.entry("A", "x").unwrap();
        assert_eq!((x.value.as_str(), x.line), ("1", 3));
        assert_eq!(ini.entry("A", "y").unwrap().value, "two words");
        assert_eq!(ini.entry("A", "z").unwrap().value, "");
        assert_eq!(ini.entry("B", "k").unwrap().value, "v=w");
        assert_eq!(ini.section("B").unwrap().line, 8);
        assert!(ini.entry("B", "x").is_none());
    }

    #[test]
    fn syntax_errors_name_the_line() {
        for (text, line, what) in [
            ("x = 1\n", 1, "before any [SECTION]"),
            ("[A]\nnot a setting\n", 2, "expected `key = value`"),
            ("[A\n", 1, "without ']'"),
            ("[A]\nx=1\nx=2\n", 3, "already given on line 2"),
            ("[A]\n[B]\n[A]\n", 3, "already given on line 1"),
            ("[A]\n = 1\n", 2, "without a key"),
            ("[]\n", 1, "empty section"),
        ] {
            let e = Ini::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(what), "{text:?}: {e}");
        }
    }
}
