//! oxray._core (work in progress).
