//! Authentication: user JWTs, server API keys, and the [`Actor`] every use case receives.
//!
//! The edge extracts the raw credentials (bearer value, `X-Natter-User`) and calls
//! [`Authenticator::authenticate`]; nothing here knows about HTTP headers.

use std::collections::HashSet;

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use natter_proto::{AppRole, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{AppError, AuthFailure};

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user the request acts as; `None` for the server API acting as itself.
    pub user_id: Option<UserId>,
    /// The user's application role (`admin` for the server API acting as itself).
    pub role: AppRole,
    /// Authenticated with a server API key.
    pub server: bool,
    /// Display name claim of the token, if any.
    pub display_name: Option<String>,
}

impl Actor {
    /// A user authenticated by token.
    pub fn user(user_id: UserId, role: AppRole) -> Self {
        Self {
            user_id: Some(user_id),
            role,
            server: false,
            display_name: None,
        }
    }

    /// The server API acting as itself.
    pub fn server() -> Self {
        Self {
            user_id: None,
            role: AppRole::Admin,
            server: true,
            display_name: None,
        }
    }

    /// May read and moderate any conversation: an app admin, or the server acting as itself.
    pub fn is_moderator(&self) -> bool {
        self.role == AppRole::Admin || (self.server && self.user_id.is_none())
    }

    /// The user id, or a 403 for endpoints that need one.
    pub fn require_user(&self) -> Result<&UserId, AppError> {
        self.user_id.as_ref().ok_or_else(|| {
            AppError::forbidden(
                "user_required",
                "this endpoint acts as a user: send X-Natter-User with the server key",
            )
        })
    }

    /// A 403 unless authenticated with a server API key.
    pub fn require_server(&self) -> Result<(), AppError> {
        if self.server {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "server_key_required",
                "this endpoint needs a server API key",
            ))
        }
    }
}

/// The claims Natter reads from a user token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Application role (`user` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// How user tokens are verified.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret.
    Hs256(Vec<u8>),
    /// RS256 with a PEM public key.
    Rs256Pem(Vec<u8>),
    /// ES256 with a PEM public key.
    Es256Pem(Vec<u8>),
    /// EdDSA (Ed25519) with a PEM public key.
    EdDsaPem(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::Hs256(_) => "Hs256(<secret>)",
            Self::Rs256Pem(_) => "Rs256Pem",
            Self::Es256Pem(_) => "Es256Pem",
            Self::EdDsaPem(_) => "EdDsaPem",
        };
        f.write_str(name)
    }
}

/// Verifies credentials. Built once at startup from the configuration.
pub struct Authenticator {
    verifier: Option<(Algorithm, DecodingKey)>,
    api_key_digests: Vec<[u8; 32]>,
    /// Signs realtime tokens. Derived from the HS256 secret or the first server key so
    /// that every node of a deployment agrees; random (single node only) otherwise.
    realtime_key: [u8; 32],
}

/// Lifetime of a realtime token.
pub const REALTIME_TOKEN_TTL_SECONDS: u64 = 60;

#[derive(Serialize, Deserialize)]
struct RealtimeClaims {
    sub: String,
    role: String,
    exp: u64,
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac =
        <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithm", &self.verifier.as_ref().map(|(alg, _)| *alg))
            .field("api_keys", &self.api_key_digests.len())
            .finish()
    }
}

fn digest(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

impl Authenticator {
    /// Builds the verifier; fails on an unparseable PEM key.
    pub fn new(jwt: Option<JwtKey>, api_keys: &[String]) -> Result<Self, anyhow::Error> {
        let jwt_secret = match &jwt {
            Some(JwtKey::Hs256(secret)) => Some(secret.clone()),
            _ => None,
        };
        let verifier = match jwt {
            None => None,
            Some(JwtKey::Hs256(secret)) => {
                Some((Algorithm::HS256, DecodingKey::from_secret(&secret)))
            }
            Some(JwtKey::Rs256Pem(pem)) => {
                Some((Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)?))
            }
            Some(JwtKey::Es256Pem(pem)) => {
                Some((Algorithm::ES256, DecodingKey::from_ec_pem(&pem)?))
            }
            Some(JwtKey::EdDsaPem(pem)) => {
                Some((Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)?))
            }
        };
        let realtime_key = match (&jwt_secret, api_keys.first()) {
            (Some(secret), _) => hmac_sha256(secret, b"natter realtime tokens v1"),
            (None, Some(key)) => hmac_sha256(key.as_bytes(), b"natter realtime tokens v1"),
            (None, None) => {
                let mut key = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
                key
            }
        };
        let api_key_digests = api_keys.iter().map(|key| digest(key.as_bytes())).collect();
        Ok(Self {
            verifier,
            api_key_digests,
            realtime_key,
        })
    }

    /// Authenticates a bearer credential (a JWT, or a server key: server keys have no
    /// dots) with an optional `X-Natter-User`.
    pub fn authenticate(
        &self,
        bearer: Option<&str>,
        acting_user: Option<&str>,
    ) -> Result<Actor, AppError> {
        let bearer = bearer.map(str::trim).filter(|b| !b.is_empty());
        let Some(bearer) = bearer else {
            return Err(AppError::Unauthorized(AuthFailure::Missing));
        };
        if !bearer.contains('.') {
            if !self.is_api_key(bearer) {
                return Err(AppError::Unauthorized(AuthFailure::InvalidApiKey));
            }
            return match acting_user {
                None => Ok(Actor::server()),
                Some(raw) => {
                    let user_id = UserId::parse(raw)
                        .map_err(|_| AppError::Unauthorized(AuthFailure::InvalidActingUser))?;
                    Ok(Actor {
                        user_id: Some(user_id),
                        role: AppRole::User,
                        server: true,
                        display_name: None,
                    })
                }
            };
        }
        if acting_user.is_some() {
            return Err(AppError::Unauthorized(AuthFailure::InvalidActingUser));
        }
        let claims = self.verify(bearer).map_err(AppError::Unauthorized)?;
        let user_id = UserId::parse(&claims.sub)
            .map_err(|_| AppError::Unauthorized(AuthFailure::InvalidClaims))?;
        let role = match claims.role.as_deref() {
            None => AppRole::User,
            Some(raw) => {
                AppRole::parse(raw).ok_or(AppError::Unauthorized(AuthFailure::InvalidClaims))?
            }
        };
        let display_name = claims
            .name
            .and_then(|name| crate::content::line(&name, 100).ok());
        Ok(Actor {
            user_id: Some(user_id),
            role,
            server: false,
            display_name,
        })
    }

    /// A realtime token for a user actor: valid [`REALTIME_TOKEN_TTL_SECONDS`], accepted
    /// only by the realtime gateway, so long-lived tokens stay out of URLs.
    pub fn mint_realtime(&self, actor: &Actor, now_unix: u64) -> Result<String, AppError> {
        let user_id = actor.require_user()?;
        let claims = RealtimeClaims {
            sub: user_id.to_string(),
            role: actor.role.as_str().to_owned(),
            exp: now_unix + REALTIME_TOKEN_TTL_SECONDS,
        };
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).map_err(|err| AppError::Internal(err.into()))?);
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(hmac_sha256(&self.realtime_key, payload.as_bytes()));
        Ok(format!("rt.{payload}.{signature}"))
    }

    /// Verifies a realtime token.
    pub fn verify_realtime(&self, token: &str, now_unix: u64) -> Result<Actor, AuthFailure> {
        let mut parts = token.split('.');
        let (Some("rt"), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthFailure::Malformed);
        };
        let expected = hmac_sha256(&self.realtime_key, payload.as_bytes());
        let given = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AuthFailure::Malformed)?;
        if !bool::from(expected.as_slice().ct_eq(given.as_slice())) {
            return Err(AuthFailure::BadSignature);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| AuthFailure::Malformed)?;
        let claims: RealtimeClaims =
            serde_json::from_slice(&bytes).map_err(|_| AuthFailure::Malformed)?;
        if claims.exp < now_unix {
            return Err(AuthFailure::Expired);
        }
        let user_id = UserId::parse(&claims.sub).map_err(|_| AuthFailure::InvalidClaims)?;
        let role = AppRole::parse(&claims.role).ok_or(AuthFailure::InvalidClaims)?;
        Ok(Actor::user(user_id, role))
    }

    /// Signs a download URL: the object variant (`content`, `thumbnail`), the attachment
    /// id and the expiry (Unix seconds), base64url.
    pub fn sign_download(&self, variant: &str, id: uuid::Uuid, expires: i64) -> String {
        let key = hmac_sha256(&self.realtime_key, b"natter downloads v1");
        let payload = format!("{variant}:{id}:{expires}");
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(hmac_sha256(&key, payload.as_bytes()))
    }

    /// Whether `signature` is [`Authenticator::sign_download`]'s for these values
    /// (compared in constant time; the expiry is the caller's to check).
    pub fn verify_download(
        &self,
        variant: &str,
        id: uuid::Uuid,
        expires: i64,
        signature: &str,
    ) -> bool {
        let Ok(given) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let key = hmac_sha256(&self.realtime_key, b"natter downloads v1");
        let expected = hmac_sha256(&key, format!("{variant}:{id}:{expires}").as_bytes());
        bool::from(expected.as_slice().ct_eq(given.as_slice()))
    }

    /// Signs an invitation id and its conversation: `inv.<payload>.<signature>`.
    pub fn sign_invitation(
        &self,
        id: uuid::Uuid,
        conversation_id: natter_proto::ConversationId,
    ) -> String {
        let mut bytes = id.as_bytes().to_vec();
        bytes.extend_from_slice(conversation_id.0.as_bytes());
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let key = hmac_sha256(&self.realtime_key, b"natter invitations v1");
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(hmac_sha256(&key, payload.as_bytes()));
        format!("inv.{payload}.{signature}")
    }

    /// The invitation id and conversation a token names, if its signature verifies.
    pub fn verify_invitation(
        &self,
        token: &str,
    ) -> Option<(uuid::Uuid, natter_proto::ConversationId)> {
        let mut parts = token.split('.');
        let (Some("inv"), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let key = hmac_sha256(&self.realtime_key, b"natter invitations v1");
        let expected = hmac_sha256(&key, payload.as_bytes());
        let given = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .ok()?;
        if !bool::from(expected.as_slice().ct_eq(given.as_slice())) {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        if bytes.len() != 32 {
            return None;
        }
        let id = uuid::Uuid::from_slice(&bytes[..16]).ok()?;
        let conversation_id = uuid::Uuid::from_slice(&bytes[16..]).ok()?;
        Some((id, natter_proto::ConversationId(conversation_id)))
    }

    /// Compares against every configured key in constant time (no early exit).
    fn is_api_key(&self, candidate: &str) -> bool {
        let candidate = digest(candidate.as_bytes());
        self.api_key_digests
            .iter()
            .fold(subtle::Choice::from(0u8), |found, key| {
                found | key.ct_eq(&candidate)
            })
            .into()
    }

    /// Verifies a JWT and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthFailure> {
        let Some((algorithm, key)) = &self.verifier else {
            return Err(AuthFailure::NotConfigured);
        };
        let header_alg = header_algorithm(token)?;
        if header_alg.eq_ignore_ascii_case("none") {
            return Err(AuthFailure::AlgNone);
        }
        if header_alg != algorithm_name(*algorithm) {
            return Err(AuthFailure::WrongAlgorithm);
        }
        let mut validation = Validation::new(*algorithm);
        validation.leeway = 30;
        validation.validate_nbf = true;
        validation.required_spec_claims = HashSet::from(["exp".to_owned(), "sub".to_owned()]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
                ErrorKind::InvalidSignature => AuthFailure::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthFailure::WrongAlgorithm
                }
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidSubject => {
                    AuthFailure::InvalidClaims
                }
                ErrorKind::Json(_) => AuthFailure::InvalidClaims,
                _ => AuthFailure::Malformed,
            })
    }
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        _ => "unsupported",
    }
}

/// Reads `alg` from the JOSE header without trusting anything else in the token.
fn header_algorithm(token: &str) -> Result<String, AuthFailure> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthFailure::Malformed);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .map_err(|_| AuthFailure::Malformed)?;
    #[derive(Deserialize)]
    struct Jose {
        alg: String,
    }
    serde_json::from_slice::<Jose>(&bytes)
        .map(|jose| jose.alg)
        .map_err(|_| AuthFailure::Malformed)
}

/// Mints HS256 user tokens: `natter token`, demo mode and tests.
pub struct TokenIssuer {
    key: EncodingKey,
}

impl TokenIssuer {
    /// An issuer for an HS256 secret.
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
        }
    }

    /// A token for `user_id` valid for `ttl_seconds` from `now_unix`.
    pub fn mint(
        &self,
        user_id: &UserId,
        role: AppRole,
        name: Option<&str>,
        now_unix: u64,
        ttl_seconds: u64,
    ) -> Result<String, anyhow::Error> {
        let claims = Claims {
            sub: user_id.to_string(),
            exp: now_unix + ttl_seconds,
            nbf: None,
            iat: Some(now_unix),
            name: name.map(str::to_owned),
            role: (role != AppRole::User).then(|| role.as_str().to_owned()),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.key,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-test-secret-test-secret";

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn authenticator() -> Authenticator {
        Authenticator::new(Some(JwtKey::Hs256(SECRET.to_vec())), &["srv_key_1".into()])
            .expect("valid config")
    }

    fn alice() -> UserId {
        UserId::parse("alice").expect("valid id")
    }

    fn failure(result: Result<Actor, AppError>) -> AuthFailure {
        match result {
            Err(AppError::Unauthorized(failure)) => failure,
            other => panic!("expected an auth failure, got {other:?}"),
        }
    }

    #[test]
    fn valid_token_yields_user_with_role() {
        let token = TokenIssuer::hs256(SECRET)
            .mint(&alice(), AppRole::Agent, Some("Alice"), now(), 60)
            .expect("mint");
        let actor = authenticator()
            .authenticate(Some(&token), None)
            .expect("valid");
        assert_eq!(actor.user_id, Some(alice()));
        assert_eq!(actor.role, AppRole::Agent);
        assert_eq!(actor.display_name.as_deref(), Some("Alice"));
        assert!(!actor.server);
    }

    #[test]
    fn expired_and_wrong_key_tokens_are_rejected_with_their_codes() {
        let expired = TokenIssuer::hs256(SECRET)
            .mint(&alice(), AppRole::User, None, now() - 7200, 60)
            .expect("mint");
        assert_eq!(
            failure(authenticator().authenticate(Some(&expired), None)),
            AuthFailure::Expired
        );
        let forged = TokenIssuer::hs256(b"another-secret")
            .mint(&alice(), AppRole::User, None, now(), 60)
            .expect("mint");
        assert_eq!(
            failure(authenticator().authenticate(Some(&forged), None)),
            AuthFailure::BadSignature
        );
    }

    #[test]
    fn alg_none_and_other_algorithms_are_rejected() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let body = b64(&format!(r#"{{"sub":"alice","exp":{}}}"#, now() + 60));
        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), body);
        assert_eq!(
            failure(authenticator().authenticate(Some(&none), None)),
            AuthFailure::AlgNone
        );
        let hs512 = format!("{}.{}.c2ln", b64(r#"{"alg":"HS512","typ":"JWT"}"#), body);
        assert_eq!(
            failure(authenticator().authenticate(Some(&hs512), None)),
            AuthFailure::WrongAlgorithm
        );
        assert_eq!(
            failure(authenticator().authenticate(Some("a.b.c"), None)),
            AuthFailure::Malformed
        );
    }

    #[test]
    fn realtime_tokens_round_trip_and_expire() {
        let auth = authenticator();
        let actor = Actor::user(alice(), AppRole::Agent);
        let token = auth.mint_realtime(&actor, 1_000).expect("mint");
        assert_eq!(auth.verify_realtime(&token, 1_030).expect("valid"), actor);
        assert_eq!(
            auth.verify_realtime(&token, 1_061),
            Err(AuthFailure::Expired)
        );
        let tampered = token.replace("rt.", "rt.x");
        assert!(auth.verify_realtime(&tampered, 1_030).is_err());
        let other = Authenticator::new(Some(JwtKey::Hs256(b"another-secret".to_vec())), &[])
            .expect("config");
        assert_eq!(
            other.verify_realtime(&token, 1_030),
            Err(AuthFailure::BadSignature)
        );
        assert!(
            auth.mint_realtime(&Actor::server(), 1_000).is_err(),
            "the server itself has no realtime identity"
        );
    }

    #[test]
    fn server_keys_act_as_server_or_as_a_user() {
        let auth = authenticator();
        assert_eq!(
            auth.authenticate(Some("srv_key_1"), None).expect("key"),
            Actor::server()
        );
        let acting = auth
            .authenticate(Some("srv_key_1"), Some("bob"))
            .expect("key");
        assert_eq!(acting.user_id.as_ref().map(UserId::as_str), Some("bob"));
        assert!(acting.server);
        assert_eq!(
            failure(auth.authenticate(Some("srv_key_2"), None)),
            AuthFailure::InvalidApiKey
        );
        assert_eq!(
            failure(auth.authenticate(Some("srv_key_1"), Some("b b"))),
            AuthFailure::InvalidActingUser
        );
        assert_eq!(failure(auth.authenticate(None, None)), AuthFailure::Missing);
    }
}
