//! The book's `HelloSocketsWeb.UserSocketTest` and `AuthSocketTest`, ported.

use channels::secret;
use channels::socket::{Refused, Socket};
use channels::testing::ChannelCase;
use channels::token::Signer;
use hello_sockets::{AuthSocket, UserSocket, TOKEN_SALT};

fn signer() -> Signer {
    // One secret per test binary, as one endpoint has one secret_key_base.
    static SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Signer::new(SECRET.get_or_init(secret::generate))
}

fn generate_token(id: u64, salt: &str) -> String {
    signer().sign(salt, &id)
}

mod user_socket {
    use super::*;

    #[tokio::test]
    async fn can_be_connected_to_without_parameters() {
        let case = ChannelCase::new().await;
        assert!(case.connect(UserSocket::new(signer()), &[]).await.is_ok());
    }

    #[tokio::test]
    async fn an_identifier_is_not_provided() {
        assert_eq!(UserSocket::new(signer()).id(&()), None);
    }
}

mod auth_socket {
    use super::*;

    #[tokio::test]
    async fn can_be_connected_to_with_a_valid_token() {
        let case = ChannelCase::new().await;
        for id in [1, 2] {
            let token = generate_token(id, TOKEN_SALT);
            assert!(case
                .connect(AuthSocket::new(signer()), &[("token", &token)])
                .await
                .is_ok());
        }
    }

    #[tokio::test]
    async fn cannot_be_connected_to_with_an_invalid_salt() {
        let case = ChannelCase::new().await;
        let token = generate_token(1, "invalid");
        let refused = case
            .connect(AuthSocket::new(signer()), &[("token", &token)])
            .await
            .err();
        assert_eq!(refused, Some(Refused("invalid".into())));
    }

    #[tokio::test]
    async fn cannot_be_connected_to_without_a_token() {
        let case = ChannelCase::new().await;
        let refused = case.connect(AuthSocket::new(signer()), &[]).await.err();
        assert_eq!(refused, Some(Refused("missing params".into())));
    }

    #[tokio::test]
    async fn cannot_be_connected_to_with_a_fake_token() {
        let case = ChannelCase::new().await;
        let refused = case
            .connect(AuthSocket::new(signer()), &[("token", "nonsense")])
            .await
            .err();
        assert_eq!(refused, Some(Refused("invalid".into())));
    }

    #[tokio::test]
    async fn an_identifier_is_based_on_the_connected_id() {
        let socket = AuthSocket::new(signer());
        let info = channels::socket::ConnectInfo {
            peer: None,
            headers: Default::default(),
            uri: http::Uri::from_static("/auth_socket/websocket"),
            transport: channels::socket::Transport::WebSocket,
        };
        for id in [1, 2] {
            let params = [("token".to_string(), generate_token(id, TOKEN_SALT))]
                .into_iter()
                .collect();
            let assigns = socket.connect(&params, &info).await.unwrap();
            assert_eq!(socket.id(&assigns), Some(format!("auth_socket:{id}")));
        }
    }
}
