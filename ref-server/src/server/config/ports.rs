//! `[TRANSPORT] port`: one TCP port or several, separated by commas (`iniTransports` splits the
//! value on `,` and serves TLS on each port, in the order given).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The TLS ports, in the order given: at least one, none twice. `0` asks the system for a free
/// port at the start (what tests use).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PortsForm", into = "PortsForm")]
pub struct Ports(Vec<u16>);

impl Ports {
    /// One port.
    pub fn one(port: u16) -> Self {
        Self(vec![port])
    }

    /// `443` or `443,5223` (spaces around a port are allowed).
    ///
    /// # Errors
    /// What is wrong, naming the item: an empty item, a non-number, a number above 65535, a
    /// port given twice.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut ports = Vec::new();
        for (i, item) in value.split(',').enumerate() {
            let item = item.trim();
            let n = i + 1;
            if item.is_empty() {
                return Err(format!("port {n} of the list is empty"));
            }
            if !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{item:?} is not a port number"));
            }
            let port = item.parse::<u16>().map_err(|_| format!("{item} is out of range (0 to 65535)"))?;
            ports.push(port);
        }
        Self::new(ports)
    }

    /// `ports` when there is at least one and none twice.
    ///
    /// # Errors
    /// An empty list, or the first port given twice.
    pub fn new(ports: Vec<u16>) -> Result<Self, String> {
        if ports.is_empty() {
            return Err("no port given".into());
        }
        if let Some((i, p)) = ports.iter().enumerate().find(|(i, p)| ports[..*i].contains(p)) {
            return Err(format!("{p} is given twice (port {} of the list)", i + 1));
        }
        Ok(Self(ports))
    }

    /// The ports in the order given.
    pub fn as_slice(&self) -> &[u16] {
        &self.0
    }

    /// The first port.
    pub fn first(&self) -> u16 {
        self.0[0]
    }

    /// Whether `port` is one of them.
    pub fn contains(&self, port: u16) -> bool {
        self.0.contains(&port)
    }
}

/// `443,5223`: the INI value.
impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The TOML forms (our older `ntf-server.toml`): `port = 443`, `port = [443, 5223]` or
/// `port = "443,5223"`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum PortsForm {
    One(u16),
    Many(Vec<u16>),
    Text(String),
}

impl TryFrom<PortsForm> for Ports {
    type Error = String;

    fn try_from(f: PortsForm) -> Result<Self, String> {
        match f {
            PortsForm::One(p) => Ok(Self::one(p)),
            PortsForm::Many(ps) => Self::new(ps),
            PortsForm::Text(t) => Self::parse(&t),
        }
    }
}

impl From<Ports> for PortsForm {
    fn from(p: Ports) -> Self {
        match p.0.as_slice() {
            [one] => Self::One(*one),
            _ => Self::Many(p.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_in_order() {
        assert_eq!(Ports::parse("443").unwrap().as_slice(), [443]);
        assert_eq!(Ports::parse("443,5223").unwrap().as_slice(), [443, 5223]);
        assert_eq!(Ports::parse("5223, 443 ,0").unwrap().as_slice(), [5223, 443, 0]);
        assert_eq!(Ports::parse("5223,443").unwrap().to_string(), "5223,443");
        assert_eq!(Ports::parse("65535").unwrap().first(), 65535);
    }

    #[test]
    fn bad_lists_say_which_item() {
        for (v, want) in [
            ("", "port 1 of the list is empty"),
            ("443,", "port 2 of the list is empty"),
            ("443,,5223", "port 2 of the list is empty"),
            (",443", "port 1 of the list is empty"),
            ("443,https", "\"https\" is not a port number"),
            ("-1", "\"-1\" is not a port number"),
            ("44 3", "\"44 3\" is not a port number"),
            ("443;5223", "\"443;5223\" is not a port number"),
            ("65536", "65536 is out of range (0 to 65535)"),
            ("443,99999999999999999999", "99999999999999999999 is out of range"),
            ("443,5223,443", "443 is given twice (port 3 of the list)"),
            ("443, 443", "443 is given twice (port 2 of the list)"),
        ] {
            assert_eq!(Ports::parse(v).map_err(|e| e.contains(want)), Err(true), "{v:?}: {:?}", Ports::parse(v));
        }
        assert!(Ports::new(Vec::new()).is_err());
    }

    #[test]
    fn toml_forms() {
        #[derive(Deserialize, Serialize, PartialEq, Debug)]
        struct S {
            port: Ports,
        }
        for (text, want) in [("port = 7", vec![7]), ("port = [7, 8]", vec![7, 8]), ("port = \"7,8\"", vec![7, 8])] {
            let s: S = toml::from_str(text).unwrap();
            assert_eq!(s.port.as_slice(), want, "{text}");
            assert_eq!(toml::from_str::<S>(&toml::to_string(&s).unwrap()).unwrap(), s);
        }
        assert!(toml::from_str::<S>("port = [7, 7]").is_err());
        assert!(toml::from_str::<S>("port = []").is_err());
        assert!(toml::from_str::<S>("port = \"7,\"").is_err());
    }
}
