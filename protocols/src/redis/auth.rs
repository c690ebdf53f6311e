//! Who may use an emulated address: the `password` (Redis's `requirepass`, the password of the
//! user `default`) and the `users` (ACL users) of its `emulate` entry, with Redis 7's answers
//! to `AUTH` and `HELLO ... AUTH`.
//!
//! ACL users are modelled as Redis's `on >password ~* &* +@all` (or `off`): a user may run every
//! command on every key and channel. Command categories, key patterns, several passwords per
//! user and `ACL SETUSER` are not modelled.

use super::reply::Reply;

/// The default user's name, as `AUTH password` authenticates it.
pub const DEFAULT_USER: &str = "default";

/// The refusal of a command sent before `AUTH` when a password is required.
pub const NOAUTH: &str = "NOAUTH Authentication required.";

/// `HELLO` without its `AUTH` option on a connection that still has to authenticate.
pub const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already \
     authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate \
     the client and select the RESP protocol version at the same time";

pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

pub const NO_PASSWORD_CONFIGURED: &str = "ERR AUTH <password> called without any password \
     configured for the default user. Are you sure your configuration is correct?";

/// What an address without an emulator answers to `AUTH`: success as the user named
/// (DESIGN.md section 6a), since command entries keep no users.
pub fn accept_any(user: Option<&[u8]>) -> String {
    user.map_or(DEFAULT_USER.into(), |u| {
        String::from_utf8_lossy(u).into_owned()
    })
}

/// The users of an emulated address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The default user's password; `None`: it needs none (`nopass`), as a default Redis.
    pub password: Option<Vec<u8>>,
    /// ACL users besides `default`, in file order.
    pub users: Vec<User>,
}

/// One ACL user: every command, every key, one password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: Vec<u8>,
    /// `off` users cannot authenticate.
    pub enabled: bool,
}

impl Credentials {
    /// Whether a new connection is authenticated as `default` without `AUTH`.
    pub fn open(&self) -> bool {
        self.password.is_none()
    }

    /// Whether the entry declares any user: without `password` and `users`, `AUTH` succeeds
    /// whatever it sends (DESIGN.md section 6a), so clients configured with a password for
    /// the real server keep working against the emulator.
    pub fn configured(&self) -> bool {
        self.password.is_some() || !self.users.is_empty()
    }

    /// `AUTH [user] password`: the user now authenticated, or Redis's error.
    pub fn authenticate(&self, user: Option<&[u8]>, password: &[u8]) -> Result<String, Reply> {
        if !self.configured() {
            return Ok(accept_any(user));
        }
        let name = match user {
            None if self.open() => return Err(Reply::error(NO_PASSWORD_CONFIGURED)),
            None => DEFAULT_USER.as_bytes(),
            Some(name) => name,
        };
        let accepted = if name == DEFAULT_USER.as_bytes() {
            self.password.as_deref().is_none_or(|p| p == password)
        } else {
            self.users
                .iter()
                .any(|u| u.enabled && u.name.as_bytes() == name && u.password == password)
        };
        if accepted {
            Ok(String::from_utf8_lossy(name).into_owned())
        } else {
            Err(Reply::error(WRONGPASS))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_users() -> Credentials {
        Credentials {
            password: Some(b"s3cret".to_vec()),
            users: vec![
                User {
                    name: "alice".into(),
                    password: b"pw".to_vec(),
                    enabled: true,
                },
                User {
                    name: "bob".into(),
                    password: b"pw".to_vec(),
                    enabled: false,
                },
            ],
        }
    }

    #[test]
    fn an_entry_without_users_accepts_any_auth() {
        let open = Credentials::default();
        assert!(open.open() && !open.configured());
        assert_eq!(open.authenticate(None, b"x"), Ok("default".into()));
        assert_eq!(open.authenticate(Some(b"app"), b"x"), Ok("app".into()));
    }

    #[test]
    fn with_users_but_no_password_auth_is_an_error_but_auth_default_succeeds() {
        let open = Credentials {
            password: None,
            users: vec![User {
                name: "alice".into(),
                password: b"pw".to_vec(),
                enabled: true,
            }],
        };
        assert!(open.open());
        assert_eq!(
            open.authenticate(None, b"x"),
            Err(Reply::error(NO_PASSWORD_CONFIGURED))
        );
        assert_eq!(
            open.authenticate(Some(b"default"), b"x"),
            Ok("default".into())
        );
        assert_eq!(
            open.authenticate(Some(b"alice"), b"x"),
            Err(Reply::error(WRONGPASS))
        );
    }

    #[test]
    fn a_password_and_users_are_checked() {
        let c = with_users();
        assert!(!c.open());
        assert_eq!(c.authenticate(None, b"s3cret"), Ok("default".into()));
        assert_eq!(c.authenticate(None, b"bad"), Err(Reply::error(WRONGPASS)));
        assert_eq!(
            c.authenticate(Some(b"default"), b"s3cret"),
            Ok("default".into())
        );
        assert_eq!(c.authenticate(Some(b"alice"), b"pw"), Ok("alice".into()));
        assert_eq!(
            c.authenticate(Some(b"alice"), b"s3cret"),
            Err(Reply::error(WRONGPASS))
        );
        assert_eq!(
            c.authenticate(Some(b"bob"), b"pw"),
            Err(Reply::error(WRONGPASS)),
            "an off user cannot authenticate"
        );
    }
}
