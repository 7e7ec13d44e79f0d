-- The shipping methods a shop offers, known by their code. Money as integer
-- minor units beside the currency code; the threshold in the same currency.

CREATE TABLE shipping_methods (
    code             text PRIMARY KEY,
    name             text NOT NULL,
    currency         text NOT NULL,
    price_minor      bigint NOT NULL CHECK (price_minor >= 0),
    free_over_minor  bigint CHECK (free_over_minor > 0)
);
