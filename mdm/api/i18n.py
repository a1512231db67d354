"""The workbench speaks Simplified Chinese and English: `?lang=` (remembered in a cookie),
else the browser's Accept-Language."""
from __future__ import annotations

from fastapi import Request

LANGS = ("zh", "en")
MESSAGES: dict[str, dict[str, str]] = {
    "title": {"en": "mdm workbench", "zh": "主数据工作台"},
    "inbox": {"en": "Inbox", "zh": "待办"},
    "open_tasks": {"en": "open tasks", "zh": "个待办任务"},
    "sign_in": {"en": "Sign in", "zh": "登录"},
    "sign_out": {"en": "Sign out", "zh": "退出"},
    "username": {"en": "User name", "zh": "用户名"},
    "password": {"en": "Password", "zh": "密码"},
    "bad_login": {"en": "Wrong user name or password.", "zh": "用户名或密码错误。"},
    "type": {"en": "Type", "zh": "类型"},
    "entity": {"en": "Entity", "zh": "主数据类别"},
    "system": {"en": "System", "zh": "系统"},
    "age": {"en": "Older than (hours)", "zh": "超过（小时）"},
    "search": {"en": "Search key or text (/)", "zh": "搜索编码或内容（/）"},
    "filter": {"en": "Filter", "zh": "筛选"},
    "all": {"en": "all", "zh": "全部"},
    "key": {"en": "Key", "zh": "编码"},
    "summary": {"en": "What happened", "zh": "问题"},
    "opened": {"en": "Opened", "zh": "创建时间"},
    "severity": {"en": "Severity", "zh": "级别"},
    "rule_violation": {"en": "rule violation", "zh": "规则违例"},
    "divergence": {"en": "divergence", "zh": "数据不一致"},
    "dead_delivery": {"en": "dead delivery", "zh": "推送失败"},
    "key_clash": {"en": "business key clash", "zh": "编码冲突"},
    "unknown_reference": {"en": "unknown reference", "zh": "引用未知"},
    "selected": {"en": "selected", "zh": "已选"},
    "waive_selected": {"en": "Waive selected", "zh": "批量忽略"},
    "push_selected": {"en": "Push golden value to selected", "zh": "批量重新推送"},
    "retry_selected": {"en": "Retry selected", "zh": "批量重试"},
    "keys_help": {"en": "j/k move · x select · Enter open · / search",
                  "zh": "j/k 上下移动 · x 选择 · Enter 打开 · / 搜索"},
    "field": {"en": "Field", "zh": "字段"},
    "golden": {"en": "Golden record", "zh": "黄金记录"},
    "copy_of": {"en": "copy in", "zh": "中的副本"},
    "what_fired": {"en": "What fired", "zh": "触发原因"},
    "versions": {"en": "Recent versions", "zh": "最近版本"},
    "decisions": {"en": "Decisions", "zh": "处理记录"},
    "change_requests": {"en": "Change requests to the ERP", "zh": "ERP 变更申请"},
    "configuration": {"en": "Configuration", "zh": "配置"},
    "config_intro": {"en": "What this hub loaded from its project files, and how each part is doing. "
                           "Change the files (reviewed, versioned) and restart the hub to change it.",
                     "zh": "本中心从项目文件加载的配置及各部分运行状况。如需修改，请修改项目文件（经评审、有版本）后重启。"},
    "sources": {"en": "Sources (capture)", "zh": "数据源（变更捕获）"},
    "entities": {"en": "Entities", "zh": "主数据实体"},
    "targets": {"en": "Targets (propagation)", "zh": "下游系统（分发）"},
    "file": {"en": "File", "zh": "文件"},
    "address": {"en": "Address", "zh": "地址"},
    "last_event": {"en": "Last change captured", "zh": "最近捕获"},
    "deliveries": {"en": "Deliveries", "zh": "分发"},
    "rules": {"en": "Rules", "zh": "规则"},
    "requested_value": {"en": "Requested value", "zh": "申请值"},
    "cr_applied": {"en": "written to the ERP in transaction", "zh": "已写入 ERP，事务号"},
    "cr_open": {"en": "open, for the ERP team", "zh": "待 ERP 团队处理"},
    "actions": {"en": "Decide", "zh": "处理"},
    "approve": {"en": "Approve as it is", "zh": "按原值批准"},
    "approve_edited": {"en": "Edit and approve", "zh": "修改后批准"},
    "push": {"en": "Push the golden value again", "zh": "重新推送黄金值"},
    "change_request": {"en": "Accept the system's value (change request to the ERP)",
                       "zh": "采纳该系统的值（向 ERP 提变更申请）"},
    "retry": {"en": "Retry the delivery", "zh": "重试推送"},
    "waive": {"en": "Waive", "zh": "忽略"},
    "reason": {"en": "Reason", "zh": "原因"},
    "lineage": {"en": "Lineage", "zh": "数据血缘"},
    "done": {"en": "Done", "zh": "已处理"},
    "status": {"en": "Status", "zh": "状态"},
    "back": {"en": "Back to the inbox", "zh": "返回待办"},
    "read_only": {"en": "Your role may read but not decide.", "zh": "您的角色只能查看，不能处理。"},
    "differs": {"en": "differs", "zh": "不一致"},
    "no_tasks": {"en": "Nothing to do.", "zh": "没有待办任务。"},
    "audit_log": {"en": "Audit log", "zh": "审计日志"},
    "sort": {"en": "Sort", "zh": "排序"},
    "users": {"en": "Users", "zh": "用户"},
    "add_user": {"en": "Add a user", "zh": "添加用户"},
    "disable": {"en": "Disable", "zh": "停用"},
    "disabled": {"en": "disabled", "zh": "已停用"},
    "active": {"en": "active", "zh": "启用"},
    "locked": {"en": "locked (failed sign-ins)", "zh": "已锁定（登录失败过多）"},
    "unlock": {"en": "Unlock", "zh": "解锁"},
    "revoke": {"en": "Revoke", "zh": "吊销"},
    "expires": {"en": "expires", "zh": "到期"},
    "last_used": {"en": "last used", "zh": "最近使用"},
    "sort_newest": {"en": "newest first", "zh": "最新优先"},
    "sort_name": {"en": "by name (pinyin)", "zh": "按名称（拼音）"},
    "sort_key": {"en": "by entity and key", "zh": "按类别和编码"},
    "name": {"en": "Name", "zh": "名称"},
    "valid_from": {"en": "Valid from", "zh": "生效时间"},
    "cause": {"en": "Made by", "zh": "来源"},
    "changes": {"en": "Changes", "zh": "变更内容"},
    "first_version": {"en": "(first version)", "zh": "（首个版本）"},
    "audit_help": {"en": "Append-only; each entry carries the hash of the one before. "
                           "'mdm audit verify' checks the chain.",
                   "zh": "只追加不可修改；每条记录带有上一条的哈希。用 mdm audit verify 校验。"},
    "when": {"en": "When", "zh": "时间"},
    "actor": {"en": "Who", "zh": "操作人"},
    "action": {"en": "Action", "zh": "操作"},
    "subject": {"en": "Subject", "zh": "对象"},
}


def language(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get("mdm_lang")
    if asked in LANGS:
        return asked
    accept = request.headers.get("accept-language", "").lower()
    first = accept.split(",")[0].strip()
    return "zh" if first.startswith("zh") else "en"


def translator(lang: str) -> dict[str, str]:
    return {key: texts[lang] for key, texts in MESSAGES.items()}
