// Domain ↔ proto for accounts.
import type { User as UserProto } from "../../gen/mel/identity/v1/identity.js";
import type { User } from "./user.js";

export function userToProto(user: User): UserProto {
  return { id: user.id, email: user.email, displayName: user.displayName, roles: [...user.roles], createTime: user.createTime };
}
