//! The first client message of SASL XOAUTH2 and OAUTHBEARER (RFC 7628).

use crate::config::AuthMethod;

use super::AccessToken;

/// The initial response for `method`, before base64: the user and the bearer token.
/// `host` and `port` name the server, as OAUTHBEARER asks.
pub fn initial_response(method: AuthMethod, user: &str, host: &str, port: u16, token: &AccessToken) -> Vec<u8> {
    let token = token.secret();
    match method {
        AuthMethod::Oauthbearer => {
            let user = user.replace('=', "=3D").replace(',', "=2C");
            format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01").into_bytes()
        }
        AuthMethod::Xoauth2 | AuthMethod::Password => {
            format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
        }
    }
}

/// What the client answers to the server's error challenge, to end the exchange.
pub fn after_error(method: AuthMethod) -> &'static [u8] {
    match method {
        AuthMethod::Oauthbearer => b"\x01",
        AuthMethod::Xoauth2 | AuthMethod::Password => b"",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_and_oauthbearer_carry_the_user_and_the_token() {
        let token = AccessToken::new("ya29.token".into());
        let x = initial_response(AuthMethod::Xoauth2, "hr@example.org", "h", 1, &token);
        assert_eq!(x, b"user=hr@example.org\x01auth=Bearer ya29.token\x01\x01");
        let o = initial_response(AuthMethod::Oauthbearer, "a,b=c@example.org", "imap.example.org", 993, &token);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "n,a=a=2Cb=3Dc@example.org,\x01host=imap.example.org\x01port=993\x01auth=Bearer ya29.token\x01\x01"
        );
        assert_eq!(format!("{token:?}"), "AccessToken(***)");
    }
}
