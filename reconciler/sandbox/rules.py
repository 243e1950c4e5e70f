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

Work notices (``topapi/message/corpconversation/asyncsend_v2``, its page and the TOP SDK's
request class):

* ``agent_id`` is required (41011 "缺少agentid") and must be the app's (40056 "不合法的agentid");
* at least one recipient (1430000 "接受者为空"); ``userid_list`` holds at most 100 userids — the
  SDK and the older page say 100, the current page 5,000 for an internal app: strict takes
  100 (`Profile.max_notice_recipients`);
* ``msg`` is an object whose ``msgtype`` is one the page lists, carrying its content object
  with the required keys (text.content; markdown.title and text; oa.head and body; …), and
  at most 2,048 bytes as compact UTF-8 JSON (40035 otherwise);
* after the call succeeded, a recipient may still not get the notice; ``getsendresult`` names
  them: an unknown userid is *invalid*; the same content to the same person twice a day
  (143106), more than 500 notices to one person a day (143105) and more than 5,000 recipients
  a minute for the app (143103) are *forbidden* ("the API returns success, but users cannot
  receive the messages").
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


# -- work notices ----------------------------------------------------------------------------

MAX_NOTICE_RECIPIENTS = 100
"""``userid_list`` per call: the TOP SDK's check and the older page (the current page says
5,000 for an internal app; the strict reading is the smaller one)."""
MAX_NOTICE_BYTES = 2048
"""``msg`` as compact UTF-8 JSON ("消息内容，最长不超过2048个字节")."""
NOTICE_TYPES: dict[str, tuple[str, ...]] = {
    "text": ("content",),
    "image": ("media_id",),
    "voice": ("media_id", "duration"),
    "file": ("media_id",),
    "link": ("messageUrl", "picUrl", "title", "text"),
    "oa": ("message_url", "head", "body"),
    "markdown": ("title", "text"),
    "action_card": ("title", "markdown"),
}
"""The message types the page lists and the keys each one's content object must carry."""
NOTICE_SAME_CONTENT = 143106  # 单应用给单人推送重复消息超限: same content once a day
NOTICE_DAILY_PER_USER = 143105  # 单应用给单人每日推送量超限: 500 a day for an internal app
NOTICE_MINUTE_RECIPIENTS = 143103  # 企业单应用消息发送人次QPM超限: 5,000 recipients a minute
MAX_NOTICES_PER_USER_DAY = 500
MAX_NOTICE_RECIPIENTS_PER_MINUTE = 5000


def check_notice_agent(agent_id: int | None, app_agent_id: int) -> None:
    if agent_id is None:
        raise ApiError(41011, "缺少agentid")
    if agent_id != app_agent_id:
        raise ApiError(40056, "不合法的agentid")


def check_notice_recipients(
    userids: Sequence[str],
    dept_ids: Sequence[int],
    to_all: bool,
    limit: int = MAX_NOTICE_RECIPIENTS,
) -> None:
    """1430000 without recipients; 40035 over ``limit`` userids (the profile's reading)."""
    if not userids and not dept_ids and not to_all:
        raise ApiError(1430000, "接受者为空")
    if len(userids) > limit:
        raise ApiError(40035, f"不合法的参数 userid_list：最多{limit}个")


def check_notice_msg(msg: object, size: int) -> str:
    """The message's type, or ApiError 40035 for a malformed or oversized ``msg``. ``size``:
    the bytes of ``msg`` as compact UTF-8 JSON."""
    if not isinstance(msg, dict):
        raise ApiError(40035, "不合法的参数 msg")
    msgtype = msg.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in NOTICE_TYPES:
        raise ApiError(40035, f"不合法的参数 msg.msgtype：{msgtype!r}")
    content = msg.get(msgtype)
    if not isinstance(content, dict):
        raise ApiError(40035, f"不合法的参数 msg.{msgtype}")
    for key in NOTICE_TYPES[msgtype]:
        value = content.get(key)
        if value is None or value == "":
            raise ApiError(40035, f"缺少参数 msg.{msgtype}.{key}")
    if size > MAX_NOTICE_BYTES:
        raise ApiError(40035, f"消息内容超过{MAX_NOTICE_BYTES}字节")
    return msgtype


def notice_forbidden(
    *, same_content_today: bool, sent_today: int, recipients_last_minute: int
) -> int | None:
    """Why a recipient does not get a notice DingTalk accepted (the ``forbidden_list`` code),
    or None when it is delivered. ``sent_today``: notices this person got from the app today;
    ``recipients_last_minute``: recipients the app reached in the sliding minute before."""
    if same_content_today:
        return NOTICE_SAME_CONTENT
    if sent_today >= MAX_NOTICES_PER_USER_DAY:
        return NOTICE_DAILY_PER_USER
    if recipients_last_minute >= MAX_NOTICE_RECIPIENTS_PER_MINUTE:
        return NOTICE_MINUTE_RECIPIENTS
    return None
