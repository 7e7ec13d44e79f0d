-- commerce-rs schema, SQLite. Money: INTEGER minor units beside a currency
-- code. Times: INTEGER microseconds since the epoch. Ids: 16-byte BLOBs. What the database can enforce, it does: CHECKs for
-- stock (I1), promotion usage (I3) and refunds (I7); unique keys for SKUs,
-- emails, reviews, idempotency keys and webhook events.

CREATE TABLE seller_stores (
    id          BLOB PRIMARY KEY,
    owner_id    BLOB NOT NULL,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL CONSTRAINT seller_stores_slug_key UNIQUE,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX seller_stores_owner_idx ON seller_stores (owner_id);

CREATE TABLE categories (
    id         BLOB PRIMARY KEY,
    parent_id  BLOB REFERENCES categories (id),
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL CONSTRAINT categories_slug_key UNIQUE
) STRICT;
CREATE INDEX categories_parent_idx ON categories (parent_id);

CREATE TABLE products (
    id           BLOB PRIMARY KEY,
    store_id     BLOB NOT NULL REFERENCES seller_stores (id),
    category_id  BLOB REFERENCES categories (id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    images       TEXT NOT NULL,
    -- lower-cased name and description, searched literally (instr)
    search_text  TEXT NOT NULL,
    -- lower-cased name, ordered byte by byte as in every backend
    name_key     TEXT COLLATE BINARY NOT NULL,
    created_at   INTEGER NOT NULL,
    deleted_at   INTEGER
) STRICT;
CREATE INDEX products_newest_idx ON products (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX products_name_idx ON products (name_key, id) WHERE deleted_at IS NULL;
CREATE INDEX products_store_idx ON products (store_id);
CREATE INDEX products_category_idx ON products (category_id);

CREATE TABLE variants (
    id                BLOB PRIMARY KEY,
    product_id        BLOB NOT NULL REFERENCES products (id),
    sku               TEXT NOT NULL CONSTRAINT variants_sku_key UNIQUE,
    attributes        TEXT NOT NULL,
    price_minor       INTEGER NOT NULL CHECK (price_minor >= 0),
    currency          TEXT NOT NULL,
    compare_at_minor  INTEGER,
    on_hand           INTEGER NOT NULL CONSTRAINT variants_on_hand_check
                          CHECK (on_hand BETWEEN 0 AND 4294967295),
    reserved          INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT variants_reserved_check CHECK (reserved >= 0 AND reserved <= on_hand)
) STRICT;
CREATE INDEX variants_product_idx ON variants (product_id, sku);
CREATE INDEX variants_price_idx ON variants (price_minor);

CREATE TABLE carts (
    id               BLOB PRIMARY KEY,
    -- 'account:<id>' or 'guest:<sha-256 of the token>': tokens are not stored
    owner_key        TEXT NOT NULL CONSTRAINT carts_owner_key UNIQUE,
    currency         TEXT NOT NULL,
    lines            TEXT NOT NULL,
    codes            TEXT NOT NULL,
    shipping_method  TEXT,
    version          INTEGER NOT NULL CHECK (version > 0),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE promotions (
    id                  BLOB PRIMARY KEY,
    code                TEXT CONSTRAINT promotions_code_key UNIQUE,
    spec                TEXT NOT NULL,
    usage_limit         INTEGER,
    per_customer_limit  INTEGER,
    -- live holds (reserved or committed): never above the limit (I3)
    used                INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT promotions_usage_check
        CHECK (used >= 0 AND (usage_limit IS NULL OR used <= usage_limit))
) STRICT;

CREATE TABLE promotion_customer_usage (
    promotion_id  BLOB NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    customer_id   BLOB NOT NULL,
    used          INTEGER NOT NULL CHECK (used >= 0),
    PRIMARY KEY (promotion_id, customer_id)
) STRICT;

CREATE TABLE orders (
    id                      BLOB PRIMARY KEY,
    number                  INTEGER NOT NULL CONSTRAINT orders_number_key UNIQUE,
    customer_id             BLOB,
    email                   TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('pending_payment', 'paid',
                                'shipped', 'delivered', 'cancelled', 'expired', 'refunded')),
    currency                TEXT NOT NULL,
    subtotal_minor          INTEGER NOT NULL,
    discount_total_minor    INTEGER NOT NULL,
    shipping_total_minor    INTEGER NOT NULL,
    tax_total_minor         INTEGER NOT NULL,
    total_minor             INTEGER NOT NULL CHECK (total_minor >= 0),
    prices_include_tax      INTEGER NOT NULL,
    captured_minor          INTEGER NOT NULL DEFAULT 0,
    refunded_minor          INTEGER NOT NULL DEFAULT 0,
    paid_by                 BLOB,
    tracking                TEXT,
    reservation_expires_at  INTEGER NOT NULL,
    -- lines, shipping, address and promotions as sold (I6): written once
    snapshot                TEXT NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    CONSTRAINT orders_refunds_check
        CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor)
) STRICT;
CREATE INDEX orders_newest_idx ON orders (created_at DESC, number DESC);
CREATE INDEX orders_customer_idx ON orders (customer_id, created_at DESC);
CREATE INDEX orders_status_idx ON orders (status, created_at DESC);
CREATE INDEX orders_expiry_idx ON orders (reservation_expires_at, id)
    WHERE status = 'pending_payment';

CREATE TABLE order_lines (
    order_id    BLOB NOT NULL REFERENCES orders (id),
    line_no     INTEGER NOT NULL,
    variant_id  BLOB NOT NULL,
    product_id  BLOB NOT NULL,
    store_id    BLOB NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    PRIMARY KEY (order_id, line_no)
) STRICT;
CREATE INDEX order_lines_store_idx ON order_lines (store_id, order_id);
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

CREATE TABLE order_refunds (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id      BLOB NOT NULL REFERENCES orders (id),
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    currency      TEXT NOT NULL,
    payment_id    BLOB NOT NULL,
    reason        TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX order_refunds_order_idx ON order_refunds (order_id);

CREATE TABLE reservations (
    order_id    BLOB NOT NULL REFERENCES orders (id),
    variant_id  BLOB NOT NULL REFERENCES variants (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (order_id, variant_id)
) STRICT;
CREATE INDEX reservations_variant_idx ON reservations (variant_id);

CREATE TABLE promotion_usage (
    promotion_id  BLOB NOT NULL,
    order_id      BLOB NOT NULL REFERENCES orders (id),
    customer_id   BLOB,
    state         TEXT NOT NULL CHECK (state IN ('reserved', 'committed', 'released')),
    PRIMARY KEY (promotion_id, order_id)
) STRICT;
CREATE INDEX promotion_usage_order_idx ON promotion_usage (order_id);

CREATE TABLE payments (
    id            BLOB PRIMARY KEY,
    order_id      BLOB NOT NULL REFERENCES orders (id),
    gateway       TEXT NOT NULL,
    reference     TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed',
                      'mismatch', 'voided', 'refund_required')),
    redirect_url  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CONSTRAINT payments_reference_key UNIQUE (gateway, reference)
) STRICT;
CREATE INDEX payments_order_idx ON payments (order_id, created_at);
CREATE INDEX payments_pending_idx ON payments (created_at) WHERE status = 'pending';

CREATE TABLE payment_attempts (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id  BLOB NOT NULL REFERENCES payments (id),
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL
) STRICT;
CREATE INDEX payment_attempts_payment_idx ON payment_attempts (payment_id);

-- Webhook events applied, by the gateway's event id: each at most once.
CREATE TABLE payment_inbox (
    gateway      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (gateway, event_id)
) STRICT;

CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          BLOB NOT NULL CONSTRAINT outbox_id_key UNIQUE,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    relayed_at  INTEGER
) STRICT;
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE relayed_at IS NULL;

CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    fingerprint   BLOB NOT NULL,
    response      TEXT,
    locked_until  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (scope, idem_key)
) STRICT;
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE accounts (
    id              BLOB PRIMARY KEY,
    email           TEXT NOT NULL,
    full_name       TEXT,
    phone           TEXT,
    roles           TEXT NOT NULL,
    email_verified  INTEGER NOT NULL,
    password_hash   TEXT,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));

CREATE TABLE addresses (
    id          BLOB PRIMARY KEY,
    account_id  BLOB NOT NULL REFERENCES accounts (id),
    address     TEXT NOT NULL,
    is_default  INTEGER NOT NULL
) STRICT;
CREATE INDEX addresses_account_idx ON addresses (account_id);
CREATE UNIQUE INDEX addresses_one_default ON addresses (account_id) WHERE is_default;

CREATE TABLE wishlist (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BLOB NOT NULL,
    product_id  BLOB NOT NULL,
    CONSTRAINT wishlist_once UNIQUE (account_id, product_id)
) STRICT;

CREATE TABLE reviews (
    id                 BLOB PRIMARY KEY,
    product_id         BLOB NOT NULL REFERENCES products (id),
    account_id         BLOB NOT NULL,
    rating             INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title              TEXT,
    body               TEXT NOT NULL,
    verified_purchase  INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    CONSTRAINT reviews_one_per_account UNIQUE (account_id, product_id)
) STRICT;
CREATE INDEX reviews_product_idx ON reviews (product_id, created_at DESC, id DESC);
