//! `StaticUsers` through the `Authenticator` trait: password checks (including length
//! mismatches), unknown users, anonymous access on and off, the anonymous upload grant, and
//! duplicate names.

use ftp_server_tokio::auth::{
    AnonymousPolicy, AuthError, Authenticator, Credentials, Operation, Permissions, Principal,
    StaticUsers, UserEntry,
};
use ftp_server_tokio::ftp_proto::{FtpPath, Secret, VirtualPath};

fn p(s: &str) -> VirtualPath {
    VirtualPath::root().resolve(&FtpPath::from(s)).unwrap()
}

const ALICE_PASSWORD: &str = "correct horse";

fn users() -> StaticUsers {
    StaticUsers::new([
        UserEntry::new("alice", ALICE_PASSWORD, p("/home/alice"), Permissions::ALL),
        UserEntry::new("bob", "b0b", p("/home/bob"), Permissions::READ_ONLY),
        UserEntry::new("empty", "", p("/home/empty"), Permissions::READ_ONLY),
    ])
    .unwrap()
}

fn upload_policy() -> AnonymousPolicy {
    AnonymousPolicy::default()
        .with_home(p("/srv/pub"))
        .with_upload_dir(p("/upload"))
}

async fn login(
    auth: &StaticUsers,
    user: &str,
    password: &[u8],
    anonymous: bool,
) -> Result<Principal, AuthError> {
    let password = Secret::new(password.to_vec());
    let credentials = Credentials {
        user,
        password: &password,
        peer: "192.0.2.1:40000".parse().unwrap(),
        tls: false,
        anonymous,
    };
    auth.authenticate(credentials).await
}

#[tokio::test]
async fn right_password_gives_the_entrys_home_and_permissions() {
    let auth = users();
    let alice = login(&auth, "alice", ALICE_PASSWORD.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.home, p("/home/alice"));
    assert_eq!(alice.permissions, Permissions::ALL);
    assert_eq!(alice.grant, None);
    assert!(!alice.anonymous);

    let bob = login(&auth, "bob", b"b0b", false).await.unwrap();
    assert_eq!(bob.home, p("/home/bob"));
    assert_eq!(bob.permissions, Permissions::READ_ONLY);
}

#[tokio::test]
async fn wrong_password_is_rejected() {
    let auth = users();
    assert_eq!(
        login(&auth, "alice", b"correct h0rse", false).await,
        Err(AuthError::Rejected)
    );
    // Another user's password is no good either.
    assert_eq!(
        login(&auth, "alice", b"b0b", false).await,
        Err(AuthError::Rejected)
    );
}

#[tokio::test]
async fn unknown_user_is_rejected() {
    let auth = users();
    assert_eq!(
        login(&auth, "mallory", ALICE_PASSWORD.as_bytes(), false).await,
        Err(AuthError::Rejected)
    );
    // Names are case-sensitive.
    assert_eq!(
        login(&auth, "Alice", ALICE_PASSWORD.as_bytes(), false).await,
        Err(AuthError::Rejected)
    );
    // An unknown user is rejected even with the dummy secret's bytes.
    assert_eq!(
        login(&auth, "mallory", &[0x5a; 32], false).await,
        Err(AuthError::Rejected)
    );
}

#[tokio::test]
async fn empty_password() {
    let auth = users();
    assert_eq!(
        login(&auth, "alice", b"", false).await,
        Err(AuthError::Rejected)
    );
    assert_eq!(
        login(&auth, "mallory", b"", false).await,
        Err(AuthError::Rejected)
    );
    // A user configured with an empty password: only an empty PASS matches.
    assert!(login(&auth, "empty", b"", false).await.is_ok());
    assert_eq!(
        login(&auth, "empty", b"\0", false).await,
        Err(AuthError::Rejected)
    );
}

#[tokio::test]
async fn prefix_and_extension_of_the_password_are_rejected() {
    let auth = users();
    let real = ALICE_PASSWORD.as_bytes();
    for len in 0..real.len() {
        assert_eq!(
            login(&auth, "alice", &real[..len], false).await,
            Err(AuthError::Rejected),
            "prefix of length {len}"
        );
    }
    for extra in [b'x', b'\0'] {
        let mut longer = real.to_vec();
        longer.push(extra);
        assert_eq!(
            login(&auth, "alice", &longer, false).await,
            Err(AuthError::Rejected),
            "extra byte {extra:#04x}"
        );
    }
}

#[tokio::test]
async fn anonymous_without_a_policy_is_rejected() {
    let auth = users();
    for user in ["anonymous", "ftp"] {
        assert_eq!(
            login(&auth, user, b"guest@example.com", true).await,
            Err(AuthError::Rejected)
        );
    }
}

#[tokio::test]
async fn anonymous_with_a_policy_accepts_any_password() {
    let auth = users().with_anonymous(AnonymousPolicy::default());
    for (user, password) in [
        ("anonymous", &b"guest@example.com"[..]),
        ("ftp", b""),
        ("anonymous", b"not an address"),
    ] {
        let principal = login(&auth, user, password, true).await.unwrap();
        assert_eq!(principal.name, "anonymous");
        assert!(principal.anonymous);
        assert_eq!(principal.home, VirtualPath::root());
        assert_eq!(principal.permissions, Permissions::READ_ONLY);
        assert_eq!(principal.grant, None);
    }
    // The flag decides, not the name: a named user still goes through the anonymous policy.
    let principal = login(&auth, "alice", b"whatever", true).await.unwrap();
    assert!(principal.anonymous);
}

#[tokio::test]
async fn anonymous_names_without_the_flag_are_ordinary_users() {
    // Anonymous access is off in the session, so `anonymous` is just a name to look up.
    let auth = users().with_anonymous(AnonymousPolicy::default());
    assert_eq!(
        login(&auth, "anonymous", b"guest@example.com", false).await,
        Err(AuthError::Rejected)
    );
    let auth = StaticUsers::new([UserEntry::new(
        "anonymous",
        "pw",
        p("/home/anon"),
        Permissions::ALL,
    )])
    .unwrap();
    let principal = login(&auth, "anonymous", b"pw", false).await.unwrap();
    assert!(!principal.anonymous);
    assert_eq!(principal.home, p("/home/anon"));
    assert_eq!(
        login(&auth, "anonymous", b"guest@example.com", false).await,
        Err(AuthError::Rejected)
    );
}

#[tokio::test]
async fn anonymous_upload_grant_allows_write_and_mkdir_below_the_directory_only() {
    let auth = users().with_anonymous(upload_policy());
    let anon = login(&auth, "anonymous", b"guest@example.com", true)
        .await
        .unwrap();
    assert_eq!(anon.home, p("/srv/pub"));
    assert_eq!(anon.permissions, Permissions::READ_ONLY);
    assert_eq!(
        anon.grant,
        Some((p("/upload"), AnonymousPolicy::UPLOAD_PERMISSIONS))
    );

    assert!(anon.allows(Operation::Write, &p("/upload/x")));
    assert!(anon.allows(Operation::Write, &p("/upload/deep/x")));
    assert!(anon.allows(Operation::MakeDir, &p("/upload/new")));
    assert!(!anon.allows(Operation::Write, &p("/other/x")));
    assert!(!anon.allows(Operation::Write, &p("/uploads/x")));
    assert!(!anon.allows(Operation::Write, &p("/upload")));
    assert!(!anon.allows(Operation::MakeDir, &p("/upload")));
    for op in [Operation::Delete, Operation::Rename, Operation::Append] {
        assert!(!anon.allows(op, &p("/upload/x")), "{op:?}");
    }
    for path in ["/", "/upload", "/upload/x", "/other/x"] {
        assert!(anon.allows(Operation::Read, &p(path)), "{path}");
        assert!(anon.allows(Operation::List, &p(path)), "{path}");
    }
}

#[test]
fn duplicate_names_are_rejected() {
    let err = StaticUsers::new([
        UserEntry::new("alice", "one", p("/a"), Permissions::ALL),
        UserEntry::new("bob", "two", p("/b"), Permissions::ALL),
        UserEntry::new("alice", "three", p("/c"), Permissions::READ_ONLY),
    ])
    .unwrap_err();
    assert_eq!(err.name, "alice");
    assert_eq!(err.to_string(), "duplicate user name \"alice\"");
    assert!(StaticUsers::new([]).is_ok());
}

#[test]
fn debug_never_shows_a_password() {
    let shown = format!("{:?}", users());
    assert!(!shown.contains(ALICE_PASSWORD), "{shown}");
    assert!(!shown.contains("b0b"), "{shown}");
}
