//! What each mail says, in plain text and HTML. Every value that comes from
//! users (names, addresses) is escaped in the HTML; secrets in links are
//! percent-encoded.

use std::fmt::Write as _;

use commerce_core::account::Email;
use commerce_core::money::Money;
use commerce_core::order::{Order, OrderLine};

use super::Mail;

/// What mails are written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The sender, `"Shop <no-reply@shop.example>"`.
    pub from: String,
    /// The base of links in mails (`COMMERCE_PUBLIC_URL`), without a trailing slash.
    pub public_url: String,
    /// The shop's name, in subjects and signatures.
    pub shop_name: String,
}

impl MailSettings {
    /// Settings with `public_url` (a trailing slash is dropped).
    pub fn new(public_url: &str, from: &str, shop_name: &str) -> Self {
        MailSettings {
            from: from.to_owned(),
            public_url: public_url.trim_end_matches('/').to_owned(),
            shop_name: shop_name.to_owned(),
        }
    }

    /// From the environment: `COMMERCE_PUBLIC_URL` (default
    /// `http://<COMMERCE_BIND>`, `http://127.0.0.1:8080`), `COMMERCE_MAIL_FROM`
    /// (default `Shop <no-reply@localhost>`), `COMMERCE_SHOP_NAME` (default `Shop`).
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let public_url = var("COMMERCE_PUBLIC_URL").unwrap_or_else(|| {
            format!(
                "http://{}",
                var("COMMERCE_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned())
            )
        });
        let shop = var("COMMERCE_SHOP_NAME").unwrap_or_else(|| "Shop".to_owned());
        let from =
            var("COMMERCE_MAIL_FROM").unwrap_or_else(|| format!("{shop} <no-reply@localhost>"));
        MailSettings::new(&public_url, &from, &shop)
    }
}

/// Escapes text for HTML.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub(crate) fn query_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A paragraph of text, or a link, in a mail body.
enum Part {
    Text(String),
    Link(String),
    Lines(Vec<String>),
}

/// The mails, written with the settings.
#[derive(Debug, Clone)]
pub(crate) struct Templates {
    settings: MailSettings,
}

impl Templates {
    pub(crate) fn new(settings: MailSettings) -> Self {
        Templates { settings }
    }

    fn mail(&self, to: &Email, subject: String, parts: Vec<Part>) -> Mail {
        let mut text = String::new();
        let mut html = String::from("<!doctype html>\n<html><body>\n");
        for part in &parts {
            match part {
                Part::Text(t) => {
                    let _ = write!(text, "{t}\n\n");
                    let _ = writeln!(html, "<p>{}</p>", html_escape(t));
                }
                Part::Link(url) => {
                    let _ = write!(text, "{url}\n\n");
                    let u = html_escape(url);
                    let _ = writeln!(html, "<p><a href=\"{u}\">{u}</a></p>");
                }
                Part::Lines(lines) => {
                    html.push_str("<ul>\n");
                    for l in lines {
                        let _ = writeln!(text, "  - {l}");
                        let _ = writeln!(html, "<li>{}</li>", html_escape(l));
                    }
                    text.push('\n');
                    html.push_str("</ul>\n");
                }
            }
        }
        let sig = format!("-- {}", self.settings.shop_name);
        text.push_str(&sig);
        text.push('\n');
        let _ = writeln!(html, "<p>{}</p>\n</body></html>", html_escape(&sig));
        Mail {
            to: to.clone(),
            subject: format!("{}: {subject}", self.settings.shop_name),
            text,
            html,
        }
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!(
            "{}{path}?token={}",
            self.settings.public_url,
            query_encode(token)
        )
    }

    fn order_link(&self, order: &Order) -> String {
        format!("{}/orders/{}", self.settings.public_url, order.id)
    }

    pub(crate) fn verify_email(&self, to: &Email, token: &str) -> Mail {
        self.mail(
            to,
            "confirm your email address".into(),
            vec![
                Part::Text("Please confirm your email address by opening this link:".into()),
                Part::Link(self.link("/verify-email", token)),
                Part::Text("If you did not create an account, ignore this mail.".into()),
            ],
        )
    }

    pub(crate) fn otp(&self, to: &Email, code: &str) -> Mail {
        self.mail(
            to,
            format!("your sign-in code is {code}"),
            vec![
                Part::Text(format!("Your sign-in code: {code}")),
                Part::Text(
                    "It works once, for 5 minutes. If you did not ask for it, ignore this mail."
                        .into(),
                ),
            ],
        )
    }

    pub(crate) fn password_reset(&self, to: &Email, token: &str) -> Mail {
        self.mail(
            to,
            "reset your password".into(),
            vec![
                Part::Text("To choose a new password, open this link (it works once):".into()),
                Part::Link(self.link("/reset-password", token)),
                Part::Text(
                    "If you did not ask for this, ignore this mail: your password stays as it is."
                        .into(),
                ),
            ],
        )
    }

    fn lines(lines: &[&OrderLine]) -> Part {
        Part::Lines(
            lines
                .iter()
                .map(|l| {
                    format!(
                        "{} x {} ({}): {}",
                        l.quantity.get(),
                        l.name,
                        l.sku.as_str(),
                        l.total
                    )
                })
                .collect(),
        )
    }

    fn buyer(
        &self,
        order: &Order,
        subject: String,
        lead: String,
        extra: Vec<Part>,
    ) -> Result<Mail, String> {
        let to = Email::parse(&order.email)
            .map_err(|_| format!("order {} has no valid email", order.id))?;
        let all: Vec<&OrderLine> = order.lines.iter().collect();
        let mut parts = vec![
            Part::Text(lead),
            Templates::lines(&all),
            Part::Text(format!("Total: {}", order.total)),
        ];
        parts.extend(extra);
        parts.push(Part::Link(self.order_link(order)));
        Ok(self.mail(&to, subject, parts))
    }

    pub(crate) fn order_placed(&self, order: &Order) -> Result<Mail, String> {
        self.buyer(
            order,
            format!("order #{} received", order.number),
            format!(
                "Thank you! We received order #{}. It waits for payment until {}.",
                order.number,
                order.reservation_expires_at.format("%Y-%m-%d %H:%M UTC")
            ),
            Vec::new(),
        )
    }

    pub(crate) fn order_paid(&self, order: &Order) -> Result<Mail, String> {
        self.buyer(
            order,
            format!("order #{} is paid", order.number),
            format!(
                "We received your payment for order #{}. We will tell you when it ships.",
                order.number
            ),
            Vec::new(),
        )
    }

    pub(crate) fn order_cancelled(
        &self,
        order: &Order,
        refund: Option<Money>,
    ) -> Result<Mail, String> {
        let extra = refund
            .map(|r| {
                vec![Part::Text(format!(
                    "{r} will be refunded to your payment method."
                ))]
            })
            .unwrap_or_default();
        self.buyer(
            order,
            format!("order #{} was cancelled", order.number),
            format!("Order #{} was cancelled.", order.number),
            extra,
        )
    }

    pub(crate) fn order_expired(&self, order: &Order) -> Result<Mail, String> {
        self.buyer(
            order,
            format!("order #{} expired unpaid", order.number),
            format!(
                "Order #{} was not paid in time, so we released the items we held for it.",
                order.number
            ),
            Vec::new(),
        )
    }

    pub(crate) fn seller_new_order(
        &self,
        to: &Email,
        store_name: &str,
        order: &Order,
        lines: &[&OrderLine],
    ) -> Mail {
        let ship_to = order
            .shipping_address
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok())
            .and_then(|v| {
                let f = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
                Some(format!(
                    "{}, {} {}, {}",
                    f("full_name")?,
                    f("postal_code")?,
                    f("city")?,
                    f("country")?
                ))
            });
        let mut parts = vec![
            Part::Text(format!(
                "{store_name} has a new paid order: #{}. Your lines:",
                order.number
            )),
            Templates::lines(lines),
        ];
        if let Some(to) = ship_to {
            parts.push(Part::Text(format!("Ship to: {to}")));
        }
        parts.push(Part::Link(format!(
            "{}/stores/orders/{}",
            self.settings.public_url, order.id
        )));
        self.mail(
            to,
            format!("new order #{} for {store_name}", order.number),
            parts,
        )
    }

    pub(crate) fn low_stock(
        &self,
        to: &Email,
        store_name: &str,
        item: &str,
        on_hand: u32,
        threshold: u32,
    ) -> Mail {
        self.mail(
            to,
            format!("low stock: {item}"),
            vec![Part::Text(format!(
                "{item} in {store_name} is running low: {on_hand} left (your alert threshold is {threshold})."
            ))],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Templates {
        Templates::new(MailSettings::new(
            "https://shop.example/",
            "Shop <no-reply@shop.example>",
            "Shop",
        ))
    }

    fn to() -> Email {
        Email::parse("ada@example.com").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn links_carry_the_encoded_token_under_the_public_url() {
        let m = t().verify_email(&to(), "a+b/c=d");
        assert!(
            m.text
                .contains("https://shop.example/verify-email?token=a%2Bb%2Fc%3Dd"),
            "{}",
            m.text
        );
        assert!(
            m.html
                .contains("href=\"https://shop.example/verify-email?token=a%2Bb%2Fc%3Dd\"")
        );
        let r = t().password_reset(&to(), "tok");
        assert!(
            r.text
                .contains("https://shop.example/reset-password?token=tok")
        );
        let o = t().otp(&to(), "042917");
        assert!(
            o.subject.contains("042917") && o.text.contains("042917") && o.html.contains("042917")
        );
    }

    #[test]
    fn html_is_escaped() {
        let m = t().low_stock(&to(), "<script>", "Mug & \"Cup\"", 2, 3);
        assert!(m.html.contains("&lt;script&gt;") && m.html.contains("Mug &amp; &quot;Cup&quot;"));
        assert!(!m.html.contains("<script>"));
        assert!(m.text.contains("<script>"), "plain text stays as it is");
        assert_eq!(query_encode("AZaz09-._~ é"), "AZaz09-._~%20%C3%A9");
    }
}
