//! C ABI for oxray (work in progress).
