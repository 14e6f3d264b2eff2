//! OIDC identity providers for `AssumeRoleWithOIDC`: load a provider's JSON Web Key Set and
//! verify an RS256-signed JWT (signature, issuer, audience, expiry).
//!
//! Knows nothing of roles or STS; `sts` decides what a verified token may do.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::accounts::OidcProviderSpec;

/// One RSA public key of the provider.
#[derive(Debug, Clone)]
struct RsaKey {
    kid: Option<String>,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// A registered provider, keys loaded.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    /// `acs:ram::<account>:oidc-provider/<name>`.
    pub arn: String,
    /// Expected `iss`.
    pub issuer: String,
    /// Accepted audiences (empty: any).
    pub client_ids: Vec<String>,
    keys: Vec<RsaKey>,
}

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
}

fn b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

impl OidcProvider {
    /// Loads the JWKS file named by `spec`, relative to `base_dir`.
    pub fn load(spec: &OidcProviderSpec, base_dir: &Path) -> anyhow::Result<Self> {
        let path = base_dir.join(&spec.jwks_file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read JWKS {}: {e}", path.display()))?;
        Self::from_jwks(spec, &text)
    }

    /// Builds a provider from JWKS text.
    pub fn from_jwks(spec: &OidcProviderSpec, jwks: &str) -> anyhow::Result<Self> {
        let value: Value = serde_json::from_str(jwks)?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow::anyhow!("JWKS has no keys array"))?
            .iter()
            .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
            .map(|k| {
                let field = |name: &str| {
                    k.get(name)
                        .and_then(Value::as_str)
                        .and_then(b64url)
                        .ok_or_else(|| anyhow::anyhow!("JWKS key without valid {name}"))
                };
                Ok(RsaKey {
                    kid: k.get("kid").and_then(Value::as_str).map(str::to_string),
                    n: field("n")?,
                    e: field("e")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if keys.is_empty() {
            anyhow::bail!("JWKS of {} holds no RSA key", spec.arn);
        }
        Ok(Self {
            arn: spec.arn.clone(),
            issuer: spec.issuer.clone(),
            client_ids: spec.client_ids.clone(),
            keys,
        })
    }

    /// Verifies `token` at unix time `now`; the error says why it is refused.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let malformed = |why: &str| TokenError::Invalid(why.to_string());
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("the token is not a JWS compact serialisation"));
        };
        let signed = &token.as_bytes()[..header.len() + 1 + payload.len()];
        let header: Value = b64url(header)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| malformed("the token header is not valid"))?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(malformed("only RS256 tokens are accepted"));
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let signature = b64url(signature).ok_or_else(|| malformed("bad signature encoding"))?;
        let verified = self
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid)
            .any(|k| {
                ring::signature::RsaPublicKeyComponents { n: &k.n, e: &k.e }
                    .verify(
                        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                        signed,
                        &signature,
                    )
                    .is_ok()
            });
        if !verified {
            return Err(TokenError::Invalid(
                "the token signature does not verify with the provider's keys".to_string(),
            ));
        }
        let claims: Value = b64url(payload)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| malformed("the token payload is not valid"))?;
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if issuer != self.issuer {
            return Err(TokenError::Invalid(format!(
                "the issuer {issuer:?} does not match the provider"
            )));
        }
        let audiences: Vec<String> = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        if !self.client_ids.is_empty() && !audiences.iter().any(|a| self.client_ids.contains(a)) {
            return Err(TokenError::Invalid(
                "the audience is not a client id of the provider".to_string(),
            ));
        }
        let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(Claims {
            issuer: issuer.to_string(),
            subject: claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            audiences,
            issued_at: claims.get("iat").and_then(Value::as_i64).unwrap_or(now),
            expires_at,
        })
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Past its `exp`.
    Expired,
    /// Anything else.
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_tokens_are_refused() {
        let spec = OidcProviderSpec {
            arn: "acs:ram::1:oidc-provider/p".into(),
            issuer: "https://issuer".into(),
            jwks_file: String::new(),
            client_ids: vec![],
        };
        let provider =
            OidcProvider::from_jwks(&spec, r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#)
                .unwrap();
        assert!(matches!(
            provider.verify("a.b", 0),
            Err(TokenError::Invalid(_))
        ));
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let token = format!("{header}.e30.AAAA");
        assert!(matches!(
            provider.verify(&token, 0),
            Err(TokenError::Invalid(_))
        ));
    }
}
