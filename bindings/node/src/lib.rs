//! oxray Node addon (work in progress).
