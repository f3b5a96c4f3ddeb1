//! APNS push provider and mock (in progress).
