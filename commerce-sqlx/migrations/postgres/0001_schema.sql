-- commerce-rs schema, PostgreSQL. Money: BIGINT minor units beside a currency
-- code. Times: timestamptz. What the database can enforce, it does: CHECKs for
-- stock (I1), promotion usage (I3) and refunds (I7); unique keys for SKUs,
-- emails, reviews, idempotency keys and webhook events.

CREATE TABLE seller_stores (
    id          uuid PRIMARY KEY,
    owner_id    uuid NOT NULL,
    name        text NOT NULL,
    slug        text NOT NULL CONSTRAINT seller_stores_slug_key UNIQUE,
    created_at  timestamptz NOT NULL
);
CREATE INDEX seller_stores_owner_idx ON seller_stores (owner_id);

CREATE TABLE categories (
    id         uuid PRIMARY KEY,
    parent_id  uuid REFERENCES categories (id),
    name       text NOT NULL,
    slug       text NOT NULL CONSTRAINT categories_slug_key UNIQUE
);
CREATE INDEX categories_parent_idx ON categories (parent_id);

CREATE TABLE products (
    id           uuid PRIMARY KEY,
    store_id     uuid NOT NULL REFERENCES seller_stores (id),
    category_id  uuid REFERENCES categories (id),
    name         text NOT NULL,
    description  text NOT NULL,
    images       jsonb NOT NULL,
    -- lower-cased name and description, searched literally (strpos)
    search_text  text NOT NULL,
    -- lower-cased name, ordered byte by byte as in every backend
    name_key     text COLLATE "C" NOT NULL,
    created_at   timestamptz NOT NULL,
    deleted_at   timestamptz
);
CREATE INDEX products_newest_idx ON products (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX products_name_idx ON products (name_key, id) WHERE deleted_at IS NULL;
CREATE INDEX products_store_idx ON products (store_id);
CREATE INDEX products_category_idx ON products (category_id);

CREATE TABLE variants (
    id                uuid PRIMARY KEY,
    product_id        uuid NOT NULL REFERENCES products (id),
    sku               text NOT NULL CONSTRAINT variants_sku_key UNIQUE,
    attributes        jsonb NOT NULL,
    price_minor       bigint NOT NULL CHECK (price_minor >= 0),
    currency          text NOT NULL,
    compare_at_minor  bigint,
    on_hand           bigint NOT NULL CONSTRAINT variants_on_hand_check
                          CHECK (on_hand BETWEEN 0 AND 4294967295),
    reserved          bigint NOT NULL DEFAULT 0,
    CONSTRAINT variants_reserved_check CHECK (reserved >= 0 AND reserved <= on_hand)
);
CREATE INDEX variants_product_idx ON variants (product_id, sku);
CREATE INDEX variants_price_idx ON variants (price_minor);

CREATE TABLE carts (
    id               uuid PRIMARY KEY,
    -- 'account:<id>' or 'guest:<sha-256 of the token>': tokens are not stored
    owner_key        text NOT NULL CONSTRAINT carts_owner_key UNIQUE,
    currency         text NOT NULL,
    lines            jsonb NOT NULL,
    codes            jsonb NOT NULL,
    shipping_method  text,
    version          bigint NOT NULL CHECK (version > 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE promotions (
    id                  uuid PRIMARY KEY,
    code                text CONSTRAINT promotions_code_key UNIQUE,
    spec                jsonb NOT NULL,
    usage_limit         bigint,
    per_customer_limit  bigint,
    -- live holds (reserved or committed): never above the limit (I3)
    used                bigint NOT NULL DEFAULT 0,
    CONSTRAINT promotions_usage_check
        CHECK (used >= 0 AND (usage_limit IS NULL OR used <= usage_limit))
);

CREATE TABLE promotion_customer_usage (
    promotion_id  uuid NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    customer_id   uuid NOT NULL,
    used          bigint NOT NULL CHECK (used >= 0),
    PRIMARY KEY (promotion_id, customer_id)
);

CREATE SEQUENCE order_number_seq START 1001;

CREATE TABLE orders (
    id                      uuid PRIMARY KEY,
    number                  bigint NOT NULL CONSTRAINT orders_number_key UNIQUE,
    customer_id             uuid,
    email                   text NOT NULL,
    status                  text NOT NULL CHECK (status IN ('pending_payment', 'paid',
                                'shipped', 'delivered', 'cancelled', 'expired', 'refunded')),
    currency                text NOT NULL,
    subtotal_minor          bigint NOT NULL,
    discount_total_minor    bigint NOT NULL,
    shipping_total_minor    bigint NOT NULL,
    tax_total_minor         bigint NOT NULL,
    total_minor             bigint NOT NULL CHECK (total_minor >= 0),
    prices_include_tax      boolean NOT NULL,
    captured_minor          bigint NOT NULL DEFAULT 0,
    refunded_minor          bigint NOT NULL DEFAULT 0,
    paid_by                 uuid,
    tracking                text,
    reservation_expires_at  timestamptz NOT NULL,
    -- lines, shipping, address and promotions as sold (I6): written once
    snapshot                jsonb NOT NULL,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    CONSTRAINT orders_refunds_check
        CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor)
);
CREATE INDEX orders_newest_idx ON orders (created_at DESC, number DESC);
CREATE INDEX orders_customer_idx ON orders (customer_id, created_at DESC);
CREATE INDEX orders_status_idx ON orders (status, created_at DESC);
CREATE INDEX orders_expiry_idx ON orders (reservation_expires_at, id)
    WHERE status = 'pending_payment';

CREATE TABLE order_lines (
    order_id    uuid NOT NULL REFERENCES orders (id),
    line_no     bigint NOT NULL,
    variant_id  uuid NOT NULL,
    product_id  uuid NOT NULL,
    store_id    uuid NOT NULL,
    quantity    bigint NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_store_idx ON order_lines (store_id, order_id);
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

CREATE TABLE order_refunds (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id      uuid NOT NULL REFERENCES orders (id),
    amount_minor  bigint NOT NULL CHECK (amount_minor > 0),
    currency      text NOT NULL,
    payment_id    uuid NOT NULL,
    reason        text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX order_refunds_order_idx ON order_refunds (order_id);

CREATE TABLE reservations (
    order_id    uuid NOT NULL REFERENCES orders (id),
    variant_id  uuid NOT NULL REFERENCES variants (id),
    quantity    bigint NOT NULL CHECK (quantity > 0),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (order_id, variant_id)
);
CREATE INDEX reservations_variant_idx ON reservations (variant_id);

CREATE TABLE promotion_usage (
    promotion_id  uuid NOT NULL,
    order_id      uuid NOT NULL REFERENCES orders (id),
    customer_id   uuid,
    state         text NOT NULL CHECK (state IN ('reserved', 'committed', 'released')),
    PRIMARY KEY (promotion_id, order_id)
);
CREATE INDEX promotion_usage_order_idx ON promotion_usage (order_id);

CREATE TABLE payments (
    id            uuid PRIMARY KEY,
    order_id      uuid NOT NULL REFERENCES orders (id),
    gateway       text NOT NULL,
    reference     text NOT NULL,
    amount_minor  bigint NOT NULL,
    currency      text NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed',
                      'mismatch', 'voided', 'refund_required')),
    redirect_url  text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT payments_reference_key UNIQUE (gateway, reference)
);
CREATE INDEX payments_order_idx ON payments (order_id, created_at);
CREATE INDEX payments_pending_idx ON payments (created_at) WHERE status = 'pending';

CREATE TABLE payment_attempts (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id  uuid NOT NULL REFERENCES payments (id),
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    detail      text NOT NULL
);
CREATE INDEX payment_attempts_payment_idx ON payment_attempts (payment_id);

-- Webhook events applied, by the gateway's event id: each at most once.
CREATE TABLE payment_inbox (
    gateway      text NOT NULL,
    event_id     text NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (gateway, event_id)
);

CREATE TABLE outbox (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          uuid NOT NULL CONSTRAINT outbox_id_key UNIQUE,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    relayed_at  timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE relayed_at IS NULL;

CREATE TABLE idempotency_keys (
    scope         text NOT NULL,
    idem_key      text NOT NULL,
    fingerprint   bytea NOT NULL,
    response      text,
    locked_until  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE accounts (
    id              uuid PRIMARY KEY,
    email           text NOT NULL,
    full_name       text,
    phone           text,
    roles           jsonb NOT NULL,
    email_verified  boolean NOT NULL,
    password_hash   text,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));

CREATE TABLE addresses (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id),
    address     jsonb NOT NULL,
    is_default  boolean NOT NULL
);
CREATE INDEX addresses_account_idx ON addresses (account_id);
CREATE UNIQUE INDEX addresses_one_default ON addresses (account_id) WHERE is_default;

CREATE TABLE wishlist (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  uuid NOT NULL,
    product_id  uuid NOT NULL,
    CONSTRAINT wishlist_once UNIQUE (account_id, product_id)
);

CREATE TABLE reviews (
    id                 uuid PRIMARY KEY,
    product_id         uuid NOT NULL REFERENCES products (id),
    account_id         uuid NOT NULL,
    rating             bigint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title              text,
    body               text NOT NULL,
    verified_purchase  boolean NOT NULL,
    created_at         timestamptz NOT NULL,
    CONSTRAINT reviews_one_per_account UNIQUE (account_id, product_id)
);
CREATE INDEX reviews_product_idx ON reviews (product_id, created_at DESC, id DESC);
