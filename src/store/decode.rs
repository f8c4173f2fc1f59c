//! The domain's values read straight from their stored spelling: a column of a
//! row type can be a `Status` or a `DepartmentId`, and a value that does not
//! parse is an error that names it (which `StoreError` reports as `Corrupt`).

use sqlx::any::{AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Any, Decode, Type};

use crate::domain::{
    AutoKind, DecidedBy, DepartmentId, EventKind, Language, MailKind, MailboxName, OutboxState, Status, TicketRef,
};

macro_rules! read_as_text {
    ($($ty:ty),* $(,)?) => {$(
        impl Type<Any> for $ty {
            fn type_info() -> AnyTypeInfo {
                <String as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <String as Type<Any>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Any> for $ty {
            fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
                let stored = <String as Decode<'r, Any>>::decode(value)?;
                Ok(<$ty>::try_from(stored)?)
            }
        }
    )*};
}

read_as_text!(
    AutoKind,
    DecidedBy,
    DepartmentId,
    EventKind,
    Language,
    MailKind,
    MailboxName,
    OutboxState,
    Status,
    TicketRef
);
