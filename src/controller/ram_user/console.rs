//! Console login of a person: the generated password (pure, with the random source passed in)
//! and the check that a password satisfies the account's password policy, so a password the
//! operator stored earlier is reused only while it is still acceptable.
//!
//! Knows nothing of Kubernetes or of the cloud API; never logs or formats a password.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::alicloud::ram::PasswordPolicy;

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
/// ASCII punctuation RAM accepts, without quotes and backslash (they trip shells and YAML).
const SYMBOLS: &[u8] = b"!#$%&()*+,-./:;<=>?@[]^_{|}~";

/// RAM's longest password.
pub const MAX_PASSWORD_LENGTH: usize = 32;
/// The length generated when the policy asks for less.
pub const DEFAULT_PASSWORD_LENGTH: usize = 20;

/// Why `password` breaks `policy` (a description, never the password), if it does.
pub fn password_violation(
    policy: &PasswordPolicy,
    password: &str,
    user_name: &str,
) -> Option<&'static str> {
    let length = password.chars().count();
    if i64::try_from(length).unwrap_or(i64::MAX) < policy.minimum_password_length.max(8) {
        return Some("shorter than the password policy's minimum length");
    }
    if length > MAX_PASSWORD_LENGTH {
        return Some("longer than 32 characters");
    }
    let has = |pred: fn(&char) -> bool| password.chars().any(|c| pred(&c));
    if policy.require_lowercase_characters && !has(char::is_ascii_lowercase) {
        return Some("no lowercase letter");
    }
    if policy.require_uppercase_characters && !has(char::is_ascii_uppercase) {
        return Some("no uppercase letter");
    }
    if policy.require_numbers && !has(char::is_ascii_digit) {
        return Some("no digit");
    }
    if policy.require_symbols && !has(char::is_ascii_punctuation) {
        return Some("no symbol");
    }
    if policy.password_not_contain_user_name
        && !user_name.is_empty()
        && password.to_lowercase().contains(&user_name.to_lowercase())
    {
        return Some("contains the user name");
    }
    let distinct = password
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if i64::try_from(distinct).unwrap_or(i64::MAX) < policy.minimum_password_different_character {
        return Some("too few different characters");
    }
    None
}

/// A random password that satisfies `policy` for `user_name`: at least
/// [`DEFAULT_PASSWORD_LENGTH`] characters (more if the policy asks), always with every
/// character class, so it stays valid when the policy is tightened later.
pub fn generate_password(policy: &PasswordPolicy, user_name: &str, rng: &mut impl Rng) -> String {
    let minimum = usize::try_from(policy.minimum_password_length).unwrap_or(0);
    let length = minimum.clamp(DEFAULT_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH);
    let all: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
    // RAM caps the minimum at 32; a larger one could never be met.
    let reachable = PasswordPolicy {
        minimum_password_length: policy
            .minimum_password_length
            .min(MAX_PASSWORD_LENGTH as i64),
        ..policy.clone()
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut bytes: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS]
            .iter()
            .map(|class| class[rng.random_range(0..class.len())])
            .collect();
        while bytes.len() < length {
            bytes.push(all[rng.random_range(0..all.len())]);
        }
        bytes.shuffle(rng);
        let password: String = bytes.into_iter().map(char::from).collect();
        // Rare: the user name (or too few distinct characters) by chance; draw again.
        // A user name that no password of this length can avoid would loop forever: after
        // many draws take the last one and let RAM judge it.
        if password_violation(&reachable, &password, user_name).is_none() || attempts >= 1000 {
            return password;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn strict() -> PasswordPolicy {
        PasswordPolicy {
            minimum_password_length: 24,
            require_lowercase_characters: true,
            require_uppercase_characters: true,
            require_numbers: true,
            require_symbols: true,
            password_not_contain_user_name: true,
            minimum_password_different_character: 12,
            ..PasswordPolicy::default()
        }
    }

    #[test]
    fn generated_passwords_satisfy_a_strict_policy() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let password = generate_password(&strict(), "ab", &mut rng);
            assert_eq!(password.chars().count(), 24);
            assert_eq!(password_violation(&strict(), &password, "ab"), None);
        }
    }

    #[test]
    fn the_default_policy_still_gets_a_long_password_with_every_class() {
        let mut rng = StdRng::seed_from_u64(1);
        let password = generate_password(&PasswordPolicy::default(), "alice", &mut rng);
        assert_eq!(password.chars().count(), DEFAULT_PASSWORD_LENGTH);
        assert_eq!(
            password_violation(&strict_but_short(), &password, "alice"),
            None
        );
    }

    fn strict_but_short() -> PasswordPolicy {
        PasswordPolicy {
            minimum_password_length: 8,
            ..strict()
        }
    }

    #[test]
    fn a_policy_longer_than_the_maximum_is_capped() {
        let policy = PasswordPolicy {
            minimum_password_length: 40,
            ..PasswordPolicy::default()
        };
        let password = generate_password(&policy, "a", &mut StdRng::seed_from_u64(3));
        assert_eq!(password.chars().count(), MAX_PASSWORD_LENGTH);
    }

    #[test]
    fn violations_are_named_without_the_password() {
        let policy = strict();
        assert_eq!(
            password_violation(&policy, "Short1!", "x"),
            Some("shorter than the password policy's minimum length")
        );
        assert_eq!(
            password_violation(&policy, "abcdefghijklmnopqrstuvwxyZ1", "x"),
            Some("no symbol")
        );
        assert_eq!(
            password_violation(&policy, "Alice-Is-Here-1234567890!", "alice"),
            Some("contains the user name")
        );
        assert_eq!(
            password_violation(&policy, "Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!", "x"),
            Some("too few different characters")
        );
    }
}
