-- The shipping methods a shop offers, known by their code. Money as integer
-- minor units beside the currency code; the threshold in the same currency.

CREATE TABLE shipping_methods (
    code             TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    currency         TEXT NOT NULL,
    price_minor      INTEGER NOT NULL CHECK (price_minor >= 0),
    free_over_minor  INTEGER CHECK (free_over_minor > 0)
) STRICT;
