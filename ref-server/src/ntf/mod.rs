//! Notification server core (in progress).
