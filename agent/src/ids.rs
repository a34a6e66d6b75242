//! User and group names ↔ ids through the system's own lookup (NSS), as `stat -c %U` and
//! `chown` do, so LDAP or sssd users resolve the same way. Nothing is cached: a play may create
//! users between two requests.

use nix::unistd::{Gid, Group, Uid, User};

pub fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

pub fn group_name(gid: u32) -> Option<String> {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

/// A user name, or a number when no user has that name (chown's rule).
pub fn user_id(name: &str) -> Option<u32> {
    match User::from_name(name).ok().flatten() {
        Some(u) => Some(u.uid.as_raw()),
        None => name.parse().ok(),
    }
}

/// A group name, or a number when no group has that name.
pub fn group_id(name: &str) -> Option<u32> {
    match Group::from_name(name).ok().flatten() {
        Some(g) => Some(g.gid.as_raw()),
        None => name.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_both_ways_and_numbers_pass_through() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_id("root"), Some(0));
        assert_eq!(group_id("0"), Some(0));
        assert_eq!(user_id("no-such-user-kplay"), None);
    }
}
