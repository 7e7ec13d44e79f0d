//! A local SMTP server speaking just enough SMTP for lettre (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT; no TLS): what the SMTP tests send their
//! mails to, and the sink of the HTTP load harness.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message received: the envelope's recipients (each `RCPT` argument,
/// as sent) and the message's data, its lines ended by CRLF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpMessage {
    /// The `RCPT` arguments, such as `TO:<ada@example.com>`.
    pub rcpt: Vec<String>,
    /// The data, up to (without) its lone `.`.
    pub data: String,
}

impl SmtpMessage {
    /// The data with quoted-printable soft line breaks undone.
    pub fn text(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }
}

/// Serves SMTP on `listener`, one task per connection, handing each
/// message to `received`; returns when the listener fails.
pub async fn serve_smtp<F>(listener: TcpListener, received: F)
where
    F: Fn(SmtpMessage) + Clone + Send + 'static,
{
    while let Ok((socket, _)) = listener.accept().await {
        tokio::spawn(session(socket, received.clone()));
    }
}

/// One connection: greets, answers each command, and reads each message's
/// data up to its lone `.`.
async fn session<F: Fn(SmtpMessage)>(socket: TcpStream, received: F) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    if write
        .write_all(b"220 localhost test SMTP\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut rcpt = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250-localhost\r\n250 8BITMIME\r\n",
            "MAIL" => {
                rcpt.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                rcpt.push(line.get(4..).unwrap_or("").trim().to_owned());
                b"250 OK\r\n"
            }
            "DATA" => {
                if write
                    .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut data = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push_str("\r\n");
                }
                received(SmtpMessage {
                    rcpt: std::mem::take(&mut rcpt),
                    data,
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
