//! A small ETL writer for tests (filled in below).
