"""What the loader builds: the example org, and the normalisations the diff relies on."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from reconciler.desired.load import load, load_desired, load_policy
from reconciler.errors import ConfigError
from reconciler.model import Location
from reconciler.policy import DEFAULT_POLICY, Policy, Safety
from tests.desired.conftest import DATA, problems_of


def test_the_example_org_is_valid_and_complete(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    desired = load(repo_root / "org")
    org = desired.org
    assert len(org.departments) == 16
    assert len(org.users) == 26
    assert org.path("eng-sre") == "研发中心/平台部/运维组"  # three levels below the root
    assert max(org.depth(key) for key in org.departments) == 3
    assert sum(len(u.departments) > 1 for u in org.users.values()) >= 3
    for department in org.departments.values():
        for manager in department.managers or ():
            assert department.key in org.users[manager].departments
    assert all(u.manager in org.users for u in org.users.values() if u.manager)
    assert len({u.mobile for u in org.users.values()}) == 26
    assert any(u.extension for u in org.users.values())
    assert desired.policy == Policy(
        prune_users=True,
        prune_departments=True,
        protected_users=("wangjianguo",),
        unmanaged_departments=("外包团队",),
        safety=Safety(
            max_user_delete_fraction=0.1, max_department_delete_fraction=0.25, min_existing=10
        ),
        qps=20.0,
        timezone="Asia/Shanghai",
        require_ci=True,
    )


def test_model_objects_are_normalised_and_located(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    org, _ = load_desired(repo_root / "org")
    zhangsan = org.users["zhangsan"]
    assert zhangsan.mobile == "+86-15951819093"
    assert org.users["lisi"].mobile == "+86-18678657975"  # written bare in the YAML
    assert zhangsan.extension == {"技术方向": "分布式系统", "爱好": "旅游"}
    assert isinstance(zhangsan.extension, MappingProxyType)
    assert zhangsan.location == Location(f"{repo_root}/org/people/engineering.yaml", 5, 5)
    assert org.users["huangtao"].departments == ("eng-mobile", "eng-web")  # sorted
    assert zhangsan.work_place is None  # not written: not managed
    assert list(org.users) == sorted(org.users)
    assert list(org.departments) == sorted(org.departments)
    assert org.departments["eng"].managers == ("zhangsan",)
    assert org.departments["eng-infra"].managers is None


def test_styles_pyyaml_reads_build_the_same_model(monkeypatch):
    monkeypatch.chdir(DATA / "valid")
    org, policy = load_desired(DATA / "valid" / "edge-formats")
    assert policy == DEFAULT_POLICY  # an empty orgctl.yaml
    zhangsan = org.users["zhangsan"]
    assert zhangsan.name == "张三"
    assert zhangsan.mobile == "+86-15951819093"
    assert zhangsan.remark == "第一行\n第二行\n"
    assert zhangsan.extension == {"工号前缀": "007", "爱好": "旅游"}
    assert org.users["lisi"].name == "李四"  # stripped
    assert org.users["lisi"].departments == ("eng", "root")
    assert org.users["wangwu"].mobile == "+86-13562527601"  # BOM file, spaced number
    assert list(org.departments) == ["eng"]


def test_missing_policy_file_means_defaults(write_org):
    org_dir = write_org(
        {"u.yaml": 'users:\n  - {userid: a, name: A, mobile: "13800138000", departments: [root]}\n'}
    )
    assert load_desired(org_dir)[1] == DEFAULT_POLICY


def test_partial_policy_keeps_defaults_for_the_rest(write_org):
    org_dir = write_org({"orgctl.yaml": "safety: {min_existing: 3}\nrate_limit: {qps: 5}\n"})
    policy = load_policy(org_dir / "orgctl.yaml")
    assert policy.safety == Safety(min_existing=3)
    assert policy.qps == 5.0
    assert policy.prune_users is False


def test_load_policy_reports_problems_with_the_given_name(write_org):
    org_dir = write_org({"orgctl.yaml": "timezone: Mars/Olympus\n"})
    with pytest.raises(ConfigError) as caught:
        load_policy(org_dir / "orgctl.yaml", "policy.yaml")
    assert problems_of(caught.value) == [
        "policy.yaml:1:11: timezone: unknown time zone 'Mars/Olympus'; use an IANA name such as "
        "Asia/Shanghai"
    ]


def test_dump_output_loads_back_as_the_same_org(repo_root, tmp_path):
    # Dump output is valid desired input (how a company adopts orgctl), and plain enough for
    # the fast reader.
    from reconciler.desired.yamlsafe import _FastParser
    from reconciler.live.dump import dump_org

    org, _ = load_desired(repo_root / "org")
    for name, text in dump_org(org).items():
        path = tmp_path / "dumped" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        assert _FastParser(text).parse() is not None, name
    assert load_desired(tmp_path / "dumped")[0] == org


def test_unmanaged_paths_are_normalised_like_department_names(write_org):
    org_dir = write_org({"orgctl.yaml": "unmanaged_departments: [' 外包 / 华东 ', 研发中心]\n"})
    assert load_policy(org_dir / "orgctl.yaml").unmanaged_departments == ("外包/华东", "研发中心")
