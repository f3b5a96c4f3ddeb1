//! Which transmissions must carry an authorization and an entity id (the reference's
//! `checkCredentials` for NTF commands and responses), as pure functions.
//!
//! ```text
//! command  auth  entity id   otherwise
//! TNEW     yes   no          CMD NO_AUTH (no auth) / CMD HAS_AUTH (entity id present)
//! SNEW     yes   no          CMD NO_AUTH (no auth) / CMD HAS_AUTH (entity id present)
//! PING     no    no          CMD HAS_AUTH
//! others   yes   yes         CMD NO_AUTH
//!
//! response         entity id   otherwise
//! IDTKN IDSUB PONG no          CMD HAS_AUTH
//! ERR              either
//! others           yes         CMD NO_ENTITY
//! ```

use smp_proto::error_type::{CommandError, ErrorType};

use crate::command::{NtfCommand, NtfCommandTag};
use crate::response::{NtfResponse, NtfResponseTag};

/// Checks a command's credentials by its tag: whether an authorization is present
/// (`has_auth`) and the transmission's entity id.
///
/// # Errors
/// `CMD NO_AUTH` or `CMD HAS_AUTH` as in the module table.
pub fn check_command_tag(
    tag: NtfCommandTag,
    has_auth: bool,
    entity_id: &[u8],
) -> Result<(), ErrorType> {
    let err = |e| Err(ErrorType::Cmd(e));
    match tag {
        NtfCommandTag::Tnew | NtfCommandTag::Snew => {
            if !has_auth {
                err(CommandError::NoAuth)
            } else if !entity_id.is_empty() {
                err(CommandError::HasAuth)
            } else {
                Ok(())
            }
        }
        NtfCommandTag::Ping => {
            if !has_auth && entity_id.is_empty() {
                Ok(())
            } else {
                err(CommandError::HasAuth)
            }
        }
        _ => {
            if !has_auth || entity_id.is_empty() {
                err(CommandError::NoAuth)
            } else {
                Ok(())
            }
        }
    }
}

/// Checks a decoded command's credentials (see [`check_command_tag`]).
///
/// # Errors
/// `CMD NO_AUTH` or `CMD HAS_AUTH`.
pub fn check_command(cmd: &NtfCommand, has_auth: bool, entity_id: &[u8]) -> Result<(), ErrorType> {
    check_command_tag(cmd.tag(), has_auth, entity_id)
}

/// Checks a response's entity id by its tag (the authorization of server responses is not
/// checked).
///
/// # Errors
/// `CMD HAS_AUTH` for an id where none is allowed, `CMD NO_ENTITY` for a missing id.
pub fn check_response_tag(tag: NtfResponseTag, entity_id: &[u8]) -> Result<(), ErrorType> {
    match tag {
        NtfResponseTag::IdTkn | NtfResponseTag::IdSub | NtfResponseTag::Pong => {
            if entity_id.is_empty() {
                Ok(())
            } else {
                Err(ErrorType::Cmd(CommandError::HasAuth))
            }
        }
        NtfResponseTag::Err => Ok(()),
        NtfResponseTag::Ok | NtfResponseTag::Tkn | NtfResponseTag::Sub => {
            if entity_id.is_empty() {
                Err(ErrorType::Cmd(CommandError::NoEntity))
            } else {
                Ok(())
            }
        }
    }
}

/// Checks a decoded response's entity id (see [`check_response_tag`]).
///
/// # Errors
/// `CMD HAS_AUTH` or `CMD NO_ENTITY`.
pub fn check_response(resp: &NtfResponse, entity_id: &[u8]) -> Result<(), ErrorType> {
    check_response_tag(resp.tag(), entity_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_AUTH: Result<(), ErrorType> = Err(ErrorType::Cmd(CommandError::NoAuth));
    const HAS_AUTH: Result<(), ErrorType> = Err(ErrorType::Cmd(CommandError::HasAuth));
    const NO_ENTITY: Result<(), ErrorType> = Err(ErrorType::Cmd(CommandError::NoEntity));

    #[test]
    fn command_credentials() {
        for tag in [NtfCommandTag::Tnew, NtfCommandTag::Snew] {
            assert_eq!(check_command_tag(tag, true, b""), Ok(()));
            assert_eq!(check_command_tag(tag, false, b""), NO_AUTH);
            assert_eq!(check_command_tag(tag, false, b"id"), NO_AUTH);
            assert_eq!(check_command_tag(tag, true, b"id"), HAS_AUTH);
        }
        assert_eq!(check_command(&NtfCommand::Ping, false, b""), Ok(()));
        assert_eq!(check_command(&NtfCommand::Ping, true, b""), HAS_AUTH);
        assert_eq!(check_command(&NtfCommand::Ping, false, b"id"), HAS_AUTH);
        for tag in [
            NtfCommandTag::Tvfy,
            NtfCommandTag::Tchk,
            NtfCommandTag::Trpl,
            NtfCommandTag::Tdel,
            NtfCommandTag::Tcrn,
            NtfCommandTag::Schk,
            NtfCommandTag::Sdel,
        ] {
            assert_eq!(check_command_tag(tag, true, b"id"), Ok(()));
            assert_eq!(check_command_tag(tag, false, b"id"), NO_AUTH);
            assert_eq!(check_command_tag(tag, true, b""), NO_AUTH);
            assert_eq!(check_command_tag(tag, false, b""), NO_AUTH);
        }
    }

    #[test]
    fn response_credentials() {
        for tag in [
            NtfResponseTag::IdTkn,
            NtfResponseTag::IdSub,
            NtfResponseTag::Pong,
        ] {
            assert_eq!(check_response_tag(tag, b""), Ok(()));
            assert_eq!(check_response_tag(tag, b"id"), HAS_AUTH);
        }
        assert_eq!(
            check_response(&NtfResponse::Err(ErrorType::Auth), b""),
            Ok(())
        );
        assert_eq!(
            check_response(&NtfResponse::Err(ErrorType::Auth), b"id"),
            Ok(())
        );
        for tag in [NtfResponseTag::Ok, NtfResponseTag::Tkn, NtfResponseTag::Sub] {
            assert_eq!(check_response_tag(tag, b"id"), Ok(()));
            assert_eq!(check_response_tag(tag, b""), NO_ENTITY);
        }
    }
}
