"""Verbatim response samples, as published on DingTalk's API pages and by client projects.

Client tests may reuse these: they are what the real gateway answers, independent of the
sandbox. `STRING_ERRCODE` is the documented case where errcode arrives as a string.
"""

from __future__ import annotations

import json
from typing import Any


def _load(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data


S1_GETTOKEN = _load("""
{
    "errcode": 0,
    "access_token": "96fc7a7axxx",
    "errmsg": "ok",
    "expires_in": 7200
}
""")

S3_INVALID_TOKEN = _load("""
{ "errcode": 40014, "errmsg": "不合法的access_token" }
""")

S9_DEPARTMENT_CREATE = _load("""
{
    "errcode": 0,
    "errmsg":"ok",
    "result": {
        "dept_id": 4176
    },
    "request_id": "6iq4zcul5zjp"
}
""")

S10_DEPARTMENT_GET = _load("""
{
    "errcode": 0,
    "errmsg": "ok",
    "result": {
        "auto_add_user": true,
        "auto_approve_apply": false,
        "brief": "",
        "create_dept_group": true,
        "dept_group_chat_id": "chatcd94de28f11deae0dd34cac41684eb73",
        "dept_id": 560935057,
        "dept_manager_userid_list": [
            "16403377132689900"
        ],
        "dept_permits": [

        ],
        "group_contain_sub_dept": false,
        "hide_dept": true,
        "name": "golang",
        "order": 1,
        "org_dept_owner": "16403377132689900",
        "outer_dept": true,
        "outer_permit_depts": [
            554656655
        ],
        "outer_permit_users": [

        ],
        "parent_id": 1,
        "user_permits": [
            "manager164",
            "184919295227658120"
        ]
    },
    "request_id": "8p1f0ex1gw3y"
}
""")

S11_USER_LIST = _load("""
{
    "errcode": 0,
    "result": {
        "next_cursor": 10,
        "has_more": true,
        "list": [
            {
                "leader": true,
                "extension": "{\\"爱好\\":\\"旅游\\",\\"年龄\\":\\"24\\"}",
                "unionid": "z21HjQliSzpw0YWCNxmii6u2Os62cZ62iSZ",
                "boss": true,
                "exclusive_account": false,
                "admin": true,
                "remark": "备注备注",
                "title": "技术总监",
                "hired_date": 1597573616828,
                "userid": "zhangsan",
                "work_place": "未来park",
                "job_number": "4",
                "dept_id_list":[2,3,4],
                "email": "test@xxx.com",
                "dept_order": 1,
                "mobile": "18513027676",
                "active": true,
                "telephone": "010-86123456-2345",
                "avatar": "xxx",
                "hide_mobile": false,
                "org_email": "test@xxx.com",
                "name": "张三",
                "state_code": "86"
            }
        ]
    },
    "errmsg": "ok"
}
""")

S15_USER_UPDATE = _load("""
{
  "errcode": 0,
  "request_id": "55o5i31j4cg8"
}
""")

STRING_ERRCODE = _load("""
{"errcode":"0","errmsg":"ok","result":{"userid":"zhangsan"}}
""")
"""The official user/create, user/get, user/list and getbymobile pages show errcode as a
string ("0") [UC, UG, UL, UM]; 007 normalises with int(). The sandbox always sends ints."""
