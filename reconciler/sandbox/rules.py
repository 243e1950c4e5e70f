"""DingTalk's directory rules and their errcodes: one rulebook for every emulation.
Pure: no I/O.

The sandbox's tenant (SQLite) and the planner's property-test simulator (in memory) both ask
these checks before they change anything, so the two cannot disagree on what DingTalk
refuses. A check reads the directory through `Directory` (facts only: who exists, who holds
a value) and raises `ApiError(errcode, errmsg)` for the first rule a change breaks; what the
change then does to the data stays with each emulation.

Rules (errcodes from DingTalk's error tables and the v2 contacts pages):

* department names: 1–64 characters (60001) without ``-`` ``,`` ``，`` (60009);
* a parent must exist (60004); sibling names are unique (60021); no move under oneself (60010);
* the root (id 1) is never updated (60018) or deleted (60007); a department with members
  anywhere in its subtree (60005) or with sub-departments (60006) is not deleted;
* managers are members of their department (40031 "不存在的userId");
* userids are 1–64 characters (60111) and unique (60102); names 1–80 characters (60112);
  mobiles unique (60104); a person is in 1–100 existing departments (40066, 60003);
* emails contain ``@``, are at most 50 characters (60105) and unique ignoring case (60106);
  extension numbers (telephone) are unique (40100);
* a manager_userid names another existing person (60128); unknown people are 60121.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Literal, Protocol

from reconciler.sandbox.errors import ApiError

ROOT_DEPT_ID = 1
MAX_DEPT_NAME = 64  # 60001; the v2 update doc says 100, 64 is the safe limit both accept
MAX_USER_NAME = 80
MAX_USERID = 64
MAX_EMAIL = 50
MAX_DEPTS_PER_USER = 100  # 40066: dept_id_list holds at most 100 ids per call
FORBIDDEN_IN_DEPT_NAME = ("-", ",", "，")  # 60009

UniqueField = Literal["mobile", "email", "telephone"]
"""User values unique in the org besides the userid."""


class DeptDirectory(Protocol):
    """The facts a department rule needs; each emulation answers from its own storage."""

    def dept_exists(self, dept_id: int) -> bool: ...

    def dept_name(self, dept_id: int) -> str: ...

    def parent_of(self, dept_id: int) -> int | None:
        """The parent's id; None for the root (or an unknown department)."""
        ...

    def sibling_named(self, parent_id: int, name: str) -> int | None:
        """The id of the child of `parent_id` named `name`, if any."""
        ...

    def has_children(self, dept_id: int) -> bool: ...

    def has_members(self, dept_id: int) -> bool:
        """Whether anyone is a member of the department or of any department below it."""
        ...

    def members(self, dept_id: int) -> Collection[str]:
        """Direct members' userids."""
        ...


class Directory(DeptDirectory, Protocol):
    """The facts every rule needs: departments, and who exists or holds a unique value."""

    def user_exists(self, userid: str) -> bool: ...

    def holder(self, field: UniqueField, value: str) -> str | None:
        """Who holds `value` (an email matches ignoring case; a mobile is canonical)."""
        ...


def unique_key(field: UniqueField, value: str) -> str:
    """What uniqueness compares: mailboxes do not care about case, nor does DingTalk."""
    return value.casefold() if field == "email" else value


# -- departments ---------------------------------------------------------------------------


def check_dept_name(name: str) -> None:
    if not name or len(name) > MAX_DEPT_NAME:
        raise ApiError(60001, f"部门名称不合法：长度须为1到{MAX_DEPT_NAME}个字符")
    if any(ch in name for ch in FORBIDDEN_IN_DEPT_NAME):
        raise ApiError(60009, "部门名称含有非法字符：不能包含 - , ，")


def require_department(d: DeptDirectory, dept_id: int) -> None:
    if not d.dept_exists(dept_id):
        raise ApiError(60003, "部门不存在")


def _check_sibling_name(d: DeptDirectory, parent_id: int, name: str, exclude: int | None) -> None:
    found = d.sibling_named(parent_id, name)
    if found is not None and found != exclude:
        raise ApiError(60021, "该父部门下已存在同名部门")


def check_create_department(d: DeptDirectory, name: str, parent_id: int) -> None:
    """``department/create``: 60001/60009 name, 60004 parent, 60021 sibling name."""
    check_dept_name(name)
    if not d.dept_exists(parent_id):
        raise ApiError(60004, "父部门不存在")
    _check_sibling_name(d, parent_id, name, None)


def check_update_department(
    d: DeptDirectory, dept_id: int, name: str | None = None, parent_id: int | None = None
) -> None:
    """``department/update`` of the name and/or parent (None = unchanged): 60018 root,
    60003 unknown, 60001/60009 name, 60004 parent, 60010 cycle, 60021 sibling name."""
    if dept_id == ROOT_DEPT_ID:
        raise ApiError(60018, "根部门不允许更新")
    require_department(d, dept_id)
    old_parent = d.parent_of(dept_id)
    new_parent = old_parent if parent_id is None else parent_id
    if name is not None:
        check_dept_name(name)
    if new_parent != old_parent and new_parent is not None:
        if not d.dept_exists(new_parent):
            raise ApiError(60004, "父部门不存在")
        cursor: int | None = new_parent
        while cursor is not None:
            if cursor == dept_id:
                raise ApiError(60010, "部门层级关系错误：不能移动到自己或自己的子部门下")
            cursor = d.parent_of(cursor)
    if new_parent is not None and (name is not None or new_parent != old_parent):
        new_name = d.dept_name(dept_id) if name is None else name
        _check_sibling_name(d, new_parent, new_name, dept_id)


def check_delete_department(d: DeptDirectory, dept_id: int) -> None:
    """``department/delete``: 60007 root, 60003 unknown, 60005 members, 60006 children."""
    if dept_id == ROOT_DEPT_ID:
        raise ApiError(60007, "不允许删除根部门")
    require_department(d, dept_id)
    if d.has_members(dept_id):
        raise ApiError(60005, "不允许删除有成员的部门")
    # The tutorial says sub-departments go with it; the error table (60006) and the old API
    # say no. We take the strict reading.
    if d.has_children(dept_id):
        raise ApiError(60006, "不允许删除有子部门的部门")


def check_managers(d: DeptDirectory, dept_id: int, managers: Iterable[str]) -> None:
    """Managers must already be members of the department (40031)."""
    require_department(d, dept_id)
    members = set(d.members(dept_id))
    strangers = [u for u in managers if u not in members]
    if strangers:
        raise ApiError(40031, f"不合法的UserID列表：不存在的userId {','.join(strangers)}")


# -- users ---------------------------------------------------------------------------------


def require_user(d: Directory, userid: str) -> None:
    if not d.user_exists(userid):
        raise ApiError(60121, "找不到该用户")


def check_user_name(name: str) -> None:
    if not name or len(name) > MAX_USER_NAME:
        raise ApiError(60112, "用户姓名不合法")


def check_departments(d: Directory, dept_ids: Sequence[int]) -> list[int]:
    """A person's departments: 1–100 (40066), each existing (60003). Duplicates dropped."""
    unique = list(dict.fromkeys(dept_ids))
    if not unique or len(unique) > MAX_DEPTS_PER_USER:
        raise ApiError(40066, "不合法的部门列表")
    for dept_id in unique:
        require_department(d, dept_id)
    return unique


def check_email(d: Directory, email: str, userid: str) -> None:
    if "@" not in email or len(email) > MAX_EMAIL:
        raise ApiError(60105, "邮箱不合法")
    holder = d.holder("email", email)
    if holder is not None and holder != userid:
        raise ApiError(60106, "邮箱已存在")


def check_telephone(d: Directory, telephone: str, userid: str) -> None:
    """The extension number (分机号) is unique in the org too (40100)."""
    holder = d.holder("telephone", telephone)
    if holder is not None and holder != userid:
        raise ApiError(40100, "分机号已经存在")


def check_manager(d: Directory, manager: str, userid: str) -> None:
    if manager == userid or not d.user_exists(manager):
        raise ApiError(60128, "不合法的主管userid")


def check_create_user(
    d: Directory,
    userid: str,
    name: str,
    mobile: str,
    dept_ids: Sequence[int],
    *,
    email: str | None = None,
    telephone: str | None = None,
    manager: str | None = None,
) -> list[int]:
    """``user/create`` (the mobile already canonical): 60111/60102 userid, 60112 name, 60104
    mobile, 40066/60003 departments, 60105/60106 email, 40100 telephone, 60128 manager.
    Returns the departments without duplicates."""
    if not userid or len(userid) > MAX_USERID:
        raise ApiError(60111, "userid不合法")
    if d.user_exists(userid):
        raise ApiError(60102, "UserID在公司中已存在")
    check_user_name(name)
    if d.holder("mobile", mobile) is not None:
        raise ApiError(60104, "手机号码在公司中已存在")
    depts = check_departments(d, dept_ids)
    if email:
        check_email(d, email, userid)
    if telephone:
        check_telephone(d, telephone, userid)
    if manager:
        check_manager(d, manager, userid)
    return depts


def check_update_user(
    d: Directory,
    userid: str,
    *,
    name: str | None = None,
    dept_ids: Sequence[int] | None = None,
    email: str | None = None,
    telephone: str | None = None,
    manager: str | None = None,
) -> list[int] | None:
    """``user/update`` of the given values (None = unchanged; an empty email, telephone or
    manager writes nothing that could clash): 60121 unknown, 60112 name, 40066/60003
    departments, 60105/60106 email, 40100 telephone, 60128 manager. Returns the departments
    without duplicates, or None."""
    require_user(d, userid)
    if name is not None:
        check_user_name(name)
    if email:
        check_email(d, email, userid)
    if telephone:
        check_telephone(d, telephone, userid)
    if manager:
        check_manager(d, manager, userid)
    return None if dept_ids is None else check_departments(d, dept_ids)


def check_delete_user(d: Directory, userid: str) -> None:
    require_user(d, userid)
