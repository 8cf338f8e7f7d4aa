//! Support for the examples in `examples/`: the backend they run on, chosen by cargo feature.
