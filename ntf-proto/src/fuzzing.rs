//! Fuzz-target glue (in progress).
