//! The wire edge's tests that need no server process: one test binary (each binary is a
//! separate link on a 2-core machine), one module per subject.

mod console;
mod sigv4_testsuite;
