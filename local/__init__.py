"""The local pipeline behind `make demo` and `make load`: moto server, event pump, samples, gallery."""
