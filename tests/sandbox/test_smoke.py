from __future__ import annotations

from reconciler.sandbox import Sandbox
from tests.sandbox.helpers import Api


def test_a_department_and_a_user_created_through_the_api_are_read_back(api: Api, sb: Sandbox):
    dept_id = api.ok("topapi/v2/department/create", {"name": "研发中心", "parent_id": 1})["result"][
        "dept_id"
    ]
    api.ok(
        "topapi/v2/user/create",
        {
            "userid": "zhangsan",
            "name": "张三",
            "mobile": "15172391968",
            "dept_id_list": str(dept_id),
        },
    )
    listed = api.ok("topapi/v2/user/list", {"dept_id": dept_id, "cursor": 0, "size": 10})
    assert [u["userid"] for u in listed["result"]["list"]] == ["zhangsan"]
    assert sb.tenant.get_user("zhangsan") is not None
    assert [d["name"] for d in sb.tenant.departments()] == ["示例科技", "研发中心"]
