//! Mux (stub)
