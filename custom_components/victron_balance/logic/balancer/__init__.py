"""Per-cell balancing decisions (pure logic): Lee Hart's algorithm and its variants."""
