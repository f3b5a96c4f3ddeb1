//! tokio TLS transport shared by the reference server and client (in progress).
