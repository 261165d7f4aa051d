"""What each problem type means and how to fix it, in Chinese and English, for /problems/<code>.

Kept apart from the PROBLEMS table (api/problems.py) so that adding a code there and
explaining it here are separate edits; a test holds that every code has its explanation.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["EXPLANATIONS", "Explanation"]


class Explanation(NamedTuple):
    """What happened and how to fix it, each in Chinese (``zh``) and English (``en``)."""

    happened_zh: str
    fix_zh: str
    happened_en: str
    fix_en: str

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {
            "zh": {"what_happened": self.happened_zh, "how_to_fix": self.fix_zh},
            "en": {"what_happened": self.happened_en, "how_to_fix": self.fix_en},
        }


E = Explanation

EXPLANATIONS: dict[str, Explanation] = {
    "station_not_found": E(
        "没有这个编号的驿站：编号有误，或驿站已被删除。",
        "核对编号；用 GET /v1/stations 按区县或名称查找驿站。",
        "No station has this id: the id is wrong, or the station was deleted.",
        "Check the id; find the station with GET /v1/stations (filter by district or owner).",
    ),
    "not_found": E(
        "这个地址下没有内容。",
        "核对地址；/docs 列出全部接口。",
        "Nothing is at this address.",
        "Check the URL; /docs lists every route.",
    ),
    "unknown_collection": E(
        "OGC API 中没有这个数据集。",
        "可用的数据集见 /collections（stations、districts）。",
        "The OGC API has no collection by this name.",
        "/collections lists the collections (stations, districts).",
    ),
    "unknown_district": E(
        "没有这个行政区划代码的区县。",
        "使用 6 位区县代码（如渝中区 500103）；GET /v1/districts 列出全部区县。",
        "No district has this administrative code (adcode).",
        "Use a 6-digit adcode (e.g. 500103 for 渝中区); GET /v1/districts lists them all.",
    ),
    "bad_coordinates": E(
        "经纬度无法使用：不是数字、超出范围，或经度和纬度写反了。",
        "按“经度,纬度”顺序填写十进制度数（重庆约为经度 105–110、纬度 28–32）"
        "，并用 crs 说明坐标系。",
        "The coordinates cannot be used: not numbers, out of range, or longitude and latitude "
        "swapped.",
        "Give decimal degrees in lon, lat order (Chongqing: lon 105–110, lat 28–32) and name "
        "the coordinate system with crs.",
    ),
    "outside_china": E(
        "这个位置在中国境外，本登记系统只收录中国境内的驿站。",
        "检查经纬度是否写反、正负号是否正确，以及 crs 是否与坐标来源一致。",
        "The position is outside China; the registry only holds stations in China.",
        "Check that longitude and latitude are not swapped, their signs, and that crs matches "
        "where the coordinates came from.",
    ),
    "unknown_amenity": E(
        "设施名称不在固定词表中。",
        "使用词表中的名称（如 hot_water、microwave、toilet、phone_charging）"
        "；错误详情列出全部名称。",
        "The amenity is not in the fixed vocabulary.",
        "Use a name from the vocabulary (e.g. hot_water, microwave, toilet, phone_charging); "
        "the detail lists them all.",
    ),
    "unknown_status": E(
        "驿站状态不是 active、temporarily_closed、planned、closed 之一。",
        "从这四个状态中选一个。",
        "The status is not one of active, temporarily_closed, planned, closed.",
        "Use one of those four.",
    ),
    "out_of_range": E(
        "某个参数超出允许范围（例如 k、limit、offset、radius_m）。",
        "按错误详情中给出的范围修改参数；分页请用 limit 和 offset 或响应中的 next 链接。",
        "A parameter is outside its allowed range (for example k, limit, offset, radius_m).",
        "Use a value within the range the detail gives; page with limit and offset, or follow "
        "the next link.",
    ),
    "network_not_loaded": E(
        "还没有导入这种出行方式（travel=walk 步行、ebike 电动车）的路网，"
        "无法按路线计算最近的驿站。",
        "管理员运行 yizhan network import FILE --profile walk（或 ebike）导入 OpenStreetMap 路网"
        "（.osm.pbf 或 .osm 文件）；在此之前去掉 travel，按直线距离查询。",
        "No street network is loaded for this way of travel (travel=walk or ebike), so the "
        "nearest stations by route cannot be found.",
        "An operator runs yizhan network import FILE --profile walk (or ebike) with an "
        "OpenStreetMap extract (.osm.pbf or .osm); until then, leave travel out to ask by the "
        "straight line.",
    ),
    "point_off_network": E(
        "这个位置离路网中任何可走的道路都太远（超过 max_m 米），无法按路线计算"
        "；snap_m 是到最近道路的距离。",
        "把位置选在道路附近，或去掉 travel 按直线距离查询；路网只覆盖导入的区域。",
        "The point is farther than max_m metres from every way of the street network, so no "
        "route can start there; snap_m is how far the nearest way is.",
        "Choose a point near a street, or leave travel out to ask by the straight line; the "
        "network covers only the area imported.",
    ),
    "too_much_work": E(
        "这个请求的计算量超过单次请求的上限（例如全市范围、很大的半径或很多站点的覆盖计算）。",
        "缩小范围：指定 district（区县代码；全国数据也可用省份的两位代码，如 51）、"
        "减小 radius_m、min_stations 或 n；全市数据可用命令行 yizhan 计算。",
        "The request asks for more computation than one request may do (coverage of the whole "
        "city at a large radius, many gap sites, …).",
        "Narrow it: give a district (an adcode; in a national registry also a province's "
        "2-digit code, e.g. 51), a smaller radius_m, min_stations or n; or compute it with "
        "the yizhan command line.",
    ),
    "bad_time": E(
        "时间无法识别。",
        "使用 ISO 8601 格式，如 2026-10-01T20:00:00+08:00；不带时区时按北京时间（Asia/Shanghai）。",
        "The time could not be read.",
        "Use ISO 8601, e.g. 2026-10-01T20:00:00+08:00; without an offset it is Asia/Shanghai.",
    ),
    "bad_bbox": E(
        "范围框无效：应为四个数字，且最小值小于最大值。",
        "写成 bbox=最小经度,最小纬度,最大经度,最大纬度（WGS-84）。",
        "The bounding box is not valid: it needs four numbers, each minimum below its maximum.",
        "Write bbox=minlon,minlat,maxlon,maxlat (WGS-84).",
    ),
    "bad_crs": E(
        "不认识这个坐标系。",
        "使用 wgs84（GPS、OSM）、gcj02（高德、腾讯）、bd09（百度）或 cgcs2000"
        "；从高德复制的坐标是 gcj02。",
        "The coordinate system is not known.",
        "Use wgs84 (GPS, OSM), gcj02 (Amap, Tencent), bd09 (Baidu) or cgcs2000; a point "
        "copied from Amap is gcj02.",
    ),
    "bad_format": E(
        "不支持这种输出格式（f 参数）。",
        "使用错误详情中列出的格式，如 f=json、f=geojson 或 f=csv。",
        "This output format (the f parameter) is not offered here.",
        "Use a format the detail lists, such as f=json, f=geojson or f=csv.",
    ),
    "invalid_parameter": E(
        "请求参数无效：类型不对、缺少必填项或无法识别；errors 列出每个问题。",
        "按 errors 逐项修改；每个参数的说明见 /docs。",
        "A request parameter is not valid: wrong type, missing or unreadable; errors lists each.",
        "Fix each item in errors; /docs describes every parameter.",
    ),
    "validation_failed": E(
        "驿站记录有问题，errors 逐项列出（字段、原因、中文说明）。",
        "按 errors 修改各字段后重新提交；上传表格时，报告中的每一行说明了如何修改。",
        "The station record has problems; errors lists each (field, code, message in Chinese).",
        "Correct each field in errors and send it again; in an upload, the report says how to "
        "fix each row.",
    ),
    "hours_unparseable": E(
        "开放时间无法识别。",
        "写成“周一至周五 8:00-20:00”“每天 9:00-21:00”“24小时”，或 OSM 格式如 Mo-Fr 08:00-20:00。",
        "The opening hours could not be read.",
        "Write them like 周一至周五 8:00-20:00, 每天 9:00-21:00 or 24小时, or as OSM "
        "opening_hours such as Mo-Fr 08:00-20:00.",
    ),
    "unauthorized": E(
        "缺少有效的访问令牌：没有提供、令牌有误或已被撤销。",
        "在请求头中加入 Authorization: Bearer <令牌>；令牌由市总工会用 yizhan token create 发放。",
        "A valid bearer token is needed: none was sent, or it is wrong or revoked.",
        "Send Authorization: Bearer <token>; the city union issues tokens with "
        "yizhan token create.",
    ),
    "forbidden": E(
        "这个工会的令牌无权进行此操作：区县工会只能修改本区县内自己的驿站，产业工会只能修改自己的驿站。",
        "用驿站所属工会的令牌操作，或请市总工会处理。",
        "This union's token may not do this: a district union writes only its own stations in "
        "its district, an industry union only its own.",
        "Use the token of the union that owns the station, or ask the city union.",
    ),
    "account_invalid": E(
        "账号无法按要求创建或修改：用户名、密码、工会或区划代码不符合要求（原因见 detail）。",
        "按提示修改后重试；用户名为 3–32 个小写字母或数字，密码至少 10 个字符。",
        "The account cannot be made or changed so: its username, password, union or adcode is "
        "not acceptable (detail says which).",
        "Change what the detail names and try again.",
    ),
    "account_exists": E(
        "这个用户名已被使用。",
        "换一个用户名，或为已有账号重置密码。",
        "The username is taken.",
        "Choose another username, or reset the existing account's password.",
    ),
    "account_not_found": E(
        "没有这个账号。",
        "用 yizhan user list 查看已有账号。",
        "No such account.",
        "List the accounts with yizhan user list.",
    ),
    "csrf_failed": E(
        "表单已过期，或请求来自其他网站（为防止跨站请求伪造，工作台只接受本站页面提交的表单）。",
        "刷新页面后重新提交。",
        "The form is stale or the request came from another site (the console accepts forms "
        "only from its own pages, against cross-site request forgery).",
        "Reload the page and submit again.",
    ),
    "database_unavailable": E(
        "暂时无法连接数据库（重启、维护或网络故障），为避免给出过时的答案，请求未被处理。",
        "按 Retry-After 稍后重试；持续出现请联系管理员检查数据库。",
        "The database cannot be reached (restarting, maintenance or the network), so the "
        "request was not answered rather than answered from stale data.",
        "Try again after Retry-After; if it lasts, ask the operator to check the database.",
    ),
    "busy": E(
        "服务器正在计算别的覆盖率或规划数据，已有几个计算在排队，这个请求未被处理。",
        "按 Retry-After 所示秒数后重试；已经算好的数据会立即返回。",
        "The server is computing other coverage or planning figures, with several already "
        "waiting, so this request was not taken.",
        "Try again after Retry-After; figures already computed are answered at once.",
    ),
    "too_many_at_once": E(
        "这个地址已有两个耗时的请求（覆盖率、缺口、区县统计、地图、沿途驿站）正在计算或排队。",
        "等前面的请求返回后再发下一个。",
        "This address already has two costly requests (coverage, gaps, district figures, "
        "maps, along-route) running or waiting.",
        "Send the next one when those are answered.",
    ),
    "database_timeout": E(
        "数据库没有在时限内完成（查询过慢或在等待锁），什么都没有改变。",
        "稍后重试；若反复出现，请缩小查询范围或联系管理员。",
        "The database did not finish in time (a slow query or a wait for a lock); nothing "
        "was changed.",
        "Try again shortly; if it keeps happening, ask for less or tell the operator.",
    ),
    "too_many_requests": E(
        "同一地址的身份验证失败次数过多，暂时被拒绝。",
        "等待 Retry-After 所示秒数后，用正确的令牌重试。",
        "Too many failed authentications from this address; it is refused for a while.",
        "Wait the seconds in Retry-After, then try again with a valid token.",
    ),
    "upload_not_found": E(
        "没有这个编号的上传。",
        "核对上传编号（上传时返回的 id）。",
        "No upload has this id.",
        "Check the id the upload returned.",
    ),
    "upload_state": E(
        "这个上传现在不能进行该操作（例如已提交的不能再提交，未提交的不能撤销）。",
        "用 GET /v1/uploads/{id} 查看其状态；需要时重新上传文件。",
        "The upload cannot do that in its state (a committed upload cannot be committed "
        "again, an uncommitted one cannot be reverted).",
        "See its state with GET /v1/uploads/{id}; upload the file again if needed.",
    ),
    "payload_too_large": E(
        "文件或请求超过大小上限，未被读取。",
        "把表格拆成几个文件分别上传，或请市总工会调高 YIZHAN_MAX_UPLOAD_BYTES。",
        "The file or request is over the size limit and was not read.",
        "Split the spreadsheet into several files, or ask the city union to raise "
        "YIZHAN_MAX_UPLOAD_BYTES.",
    ),
    "length_required": E(
        "请求没有说明长度（Content-Length）。",
        "使用会发送 Content-Length 的客户端（浏览器、curl 都会）。",
        "The request did not state its length (Content-Length).",
        "Use a client that sends Content-Length (browsers and curl do).",
    ),
    "precondition_required": E(
        "修改或删除驿站时必须说明基于哪个版本，以免覆盖别人的修改。",
        "先 GET 该驿站，在请求头中加入 If-Match: <它的 ETag>。",
        "Changing or deleting a station must say which version it changes, so that no one's "
        "edit is overwritten.",
        "GET the station first and send If-Match: <its ETag>.",
    ),
    "unsupported_file": E(
        "不支持这种文件类型。",
        "上传 CSV（UTF-8 或 GBK）、XLSX 或 GeoJSON；模板见 /v1/uploads/template.xlsx。",
        "This file type is not supported.",
        "Upload CSV (UTF-8 or GBK), XLSX or GeoJSON; the template is /v1/uploads/template.xlsx.",
    ),
    "bad_file": E(
        "文件无法读取：损坏、编码无法识别或缺少必需的列。",
        "用 Excel 另存为 XLSX 或 CSV 后重新上传；列名可参照 /v1/uploads/template.xlsx。",
        "The file could not be read: damaged, in an unknown encoding, or missing a required "
        "column.",
        "Save it again from Excel as XLSX or CSV and upload it; the column names are in "
        "/v1/uploads/template.xlsx.",
    ),
    "choose_sheet": E(
        "工作簿中有几个工作表都像驿站登记表，不知道该读取哪一个。",
        "在 sheets 列出的工作表中选一个，上传时注明 sheet=<工作表名>（命令行：--sheet）。",
        "Several sheets of the workbook hold stations; which one to read is not said.",
        "Choose one of those listed in `sheets` and upload again with sheet=<name> (CLI: --sheet).",
    ),
    "stale_write": E(
        "在您读取之后，这个驿站已被别人修改，您的修改未被保存。",
        "重新读取驿站（新的 ETag），确认别人的修改后再提交。",
        "The station was changed by someone else after you read it; your change was not saved.",
        "Read the station again (a new ETag), check their change, then send yours.",
    ),
    "duplicate_external_id": E(
        "本工会已有一个相同编号的驿站。",
        "要修改那个驿站请用它的 id；新驿站请换一个编号。",
        "The union already has a station with this code (external_id).",
        "To change that station use its id; give a new station another code.",
    ),
    "method_not_allowed": E(
        "这个地址不接受这种请求方法。",
        "/docs 列出每个地址可用的方法。",
        "This address does not take this HTTP method.",
        "/docs lists the methods of each route.",
    ),
    "feedback_not_found": E(
        "没有这个编号的问题报告。",
        "用 GET /v1/feedback 查看本工会驿站的报告。",
        "No report has this id.",
        "GET /v1/feedback lists the reports on your stations.",
    ),
    "feedback_resolved": E(
        "这个报告已经处理过了。",
        "无需再次处理；新问题请骑手重新报告。",
        "The report was resolved already.",
        "Nothing more to do; a new problem is a new report.",
    ),
    "invalid_feedback": E(
        "问题报告无效：类型不在 closed_during_hours、locked、facility_broken、other "
        "中，或说明过长。",
        "选择一个问题类型，说明请简短。",
        "The report is not valid: its kind is not closed_during_hours, locked, facility_broken "
        "or other, or the note is too long.",
        "Choose one kind and keep the note short.",
    ),
    "too_many_reports": E(
        "这个地址或这个驿站在一小时内的报告已经太多。",
        "等待 Retry-After 所示秒数后再报告。",
        "Too many reports from this address, or about this station, in the last hour.",
        "Wait the seconds in Retry-After before reporting again.",
    ),
    "too_many_check_ins": E(
        "这个地址在一小时内的签到已经太多，或这个驿站一小时内的签到超过了上限。",
        "等待 Retry-After 所示秒数后再签到。同一驿站两小时内重复签到只算一次，不会报这个错。",
        "Too many check-ins from this address in the last hour, or at this station.",
        "Wait the seconds in Retry-After. Checking in again at the same station within the "
        "de-duplication window is not an error: it is counted once.",
    ),
    "invalid_rating": E(
        "评价无效：星级不是 1 到 5 的整数，或评价内容过长（最多 300 字）。",
        "选 1 到 5 星，评价内容请简短。",
        "The rating is not valid: stars are not a whole number from 1 to 5, or the comment is "
        "longer than 300 characters.",
        "Choose 1 to 5 stars and keep the comment short.",
    ),
    "invalid_event": E(
        "活动信息有误：errors 逐项列出哪个字段有什么问题（如缺少名称、类别不认识、结束早于开始、"
        "每周重复没有选星期或截止日期、驿站编号不存在）。",
        "按 errors 中每一项的提示改正后重新提交；类别可写代码（free_meal）或中文（免费餐）。",
        "The event is not valid: errors lists each field and what is wrong with it.",
        "Fix each field named in errors and send it again; kind takes a code or its Chinese name.",
    ),
    "event_not_found": E(
        "没有这个编号的活动：编号有误，或活动已被删除。",
        "用 GET /v1/events（或控制台的“活动”页）查找活动。",
        "No event has this id: the id is wrong, or the event was deleted.",
        "Find the event with GET /v1/events or on the console's 活动 page.",
    ),
    "stale_event": E(
        "您打开活动之后，别人已经修改了它；您的修改没有保存。",
        "重新打开活动（GET /v1/events/{id}，ETag 是它的版本），在新版本上再改一次。",
        "Someone changed the event after you read it; your change was not saved.",
        "Read the event again (its ETag is its version) and apply your change to it.",
    ),
    "invalid_case_request": E(
        "工单操作无效：状态不是 open、in_progress、resolved、confirmed 之一，回复过长（最多 "
        "500 字），或标记已解决时没有写回复。",
        "标记已解决前写一段回复（会展示给反馈人）。",
        "The step is not valid: an unknown state, a reply over 500 characters, or a resolve "
        "without a reply.",
        "Write a reply (the reporter reads it) before resolving.",
    ),
    "case_not_found": E(
        "没有这个编号的工单。",
        "用 GET /v1/cases 查看本工会的工单。",
        "No case has this id.",
        "GET /v1/cases lists your union's cases.",
    ),
    "receipt_not_found": E(
        "没有这个回执号的反馈。",
        "回执号形如 XXXX-XXXX-XXXX，请核对后再试（不区分大小写）。",
        "No report or rating has this receipt.",
        "Receipts look like XXXX-XXXX-XXXX (any case); check it and try again.",
    ),
    "stale_case": E(
        "在您读取之后，这个工单已被别人处理过，您的操作未被保存。",
        "刷新后查看工单的最新状态，再决定下一步。",
        "The case was moved on by someone else after you read it; your step was not saved.",
        "Read the case again (its new version) and decide again.",
    ),
    "case_transition_refused": E(
        "工单现在的状态不能改为所请求的状态（例如已确认的工单不能再改，重新打开只能一次）。",
        "按 待处理 → 处理中 → 已解决 → 已确认 的顺序处理；错误信息列出可以改为的状态。",
        "The case cannot go from its state to the one asked (a confirmed case is final; a "
        "case is reopened at most once).",
        "Follow open → in progress → resolved → confirmed; the detail lists the states allowed.",
    ),
    "too_many_ratings": E(
        "这个地址或这个驿站在一小时内的评价已经太多。",
        "等待 Retry-After 所示秒数后再评价。同一地址对同一驿站再次评价会替换上一次的评价。",
        "Too many ratings from this address, or of this station, in the last hour.",
        "Wait the seconds in Retry-After. Rating a station again from the same address "
        "replaces the earlier rating.",
    ),
    "inspection_not_found": E(
        "没有这条抽查记录，或这次抽查没有这张照片。",
        "从抽查列表（GET /v1/inspections）中选择记录和照片。",
        "There is no such spot check, or the check has no such photo.",
        "Pick the check and its photo from the list (GET /v1/inspections).",
    ),
    "invalid_inspection": E(
        "抽查结果与这个驿站的检查表不符：有未知的检查项、漏填的检查项，或字段格式有误。",
        "按 GET /v1/inspections/checklist?station_id= 列出的每一项填写 true（合格）或 "
        "false（不合格），errors 中列出了每个问题。",
        "The check does not fit the station's checklist: unknown items, missing items, or a "
        "field that cannot be read.",
        "Give every item of GET /v1/inspections/checklist?station_id= as true (passed) or "
        "false (failed); errors lists each problem.",
    ),
    "photo_refused": E(
        "照片不能保存：不是 JPEG、PNG 或 WebP 图片（例如 HEIC），已损坏，尺寸过大，"
        "或张数超过上限。",
        "用手机相机的“兼容性最佳”（JPEG）格式重拍，或换一张照片。",
        "A photo cannot be kept: not a JPEG, PNG or WebP image (HEIC, say), damaged, too many "
        "pixels, or too many photos.",
        "Take it again in the camera's Most Compatible (JPEG) format, or choose another.",
    ),
    "photo_too_large": E(
        "照片文件超过大小上限。",
        "压缩照片或降低相机分辨率后再上传。",
        "A photo's file is over the size limit.",
        "Compress the photo or lower the camera's resolution, then upload it again.",
    ),
    "poster_font_missing": E(
        "服务器上没有海报用的中文字体，生成不了驿站海报。",
        "安装 fonts-wqy-microhei（apt-get install fonts-wqy-microhei）或设置 YIZHAN_POSTER_FONT "
        "为一个 TrueType 中文字体文件，然后重试。",
        "The CJK font posters are set in is not installed on the server.",
        "Install fonts-wqy-microhei (apt-get install fonts-wqy-microhei) or point "
        "YIZHAN_POSTER_FONT at a CJK TrueType font, then try again.",
    ),
    "invalid_visit": E(
        "签到无效：职业不在外卖配送员、快递员、网约车司机、货车司机、环卫工人、其他之中。",
        "occupation 填写职业代码（delivery、courier、ride_hailing、truck、sanitation、other）"
        "或其中文名称。",
        "The check-in is not valid: its occupation is not one of the six.",
        "Send occupation as a code (delivery, courier, ride_hailing, truck, sanitation, other) "
        "or its Chinese label.",
    ),
    "invalid_range": E(
        "日期范围无效：开始日期晚于结束日期，或范围超过 400 天。",
        "since 不晚于 until（北京时间日期，如 2026-10-01），一次最多查询 400 天。",
        "The date range is not valid: since is after until, or it spans more than 400 days.",
        "Give since no later than until (Shanghai dates such as 2026-10-01), 400 days at most.",
    ),
    "schema_incompatible": E(
        "这个数据库不能被本版本使用（版本更新，或里面有其他程序的表），数据库未被改动。",
        "检查 YIZHAN_DATABASE_URL 是否指向 yizhan 的数据库，并使用与之匹配的 yizhan 版本。",
        "This database cannot be used by this version of yizhan (a newer schema, or another "
        "program's tables); it was left untouched.",
        "Check that YIZHAN_DATABASE_URL names yizhan's database, and run a matching yizhan "
        "version.",
    ),
    "read_only": E(
        "这个服务器连接的是只读副本，不能写入。",
        "把写请求发到连接主库的服务器。",
        "This server reads from a read replica and takes no writes.",
        "Send writes to a server on the primary database.",
    ),
    "store_error": E(
        "登记库出错，请求未完成。",
        "稍后重试；若反复出现，请把响应中的时间和地址告诉管理员。",
        "The registry failed and the request was not completed.",
        "Try again later; if it keeps happening, tell the operator the time and the URL.",
    ),
    "internal_error": E(
        "服务器内部错误，这是我们的问题。",
        "稍后重试；请把时间和地址告诉管理员，日志中有详细记录。",
        "An internal error: our fault, not yours.",
        "Try again later and tell the operator the time and the URL; the log has the details.",
    ),
    "bad_cursor": E(
        "since 不是本变更流给出的游标（游标形如 v1.<纪元>.<编号>.<校验>，不要自己拼写或改动）。",
        "使用上一次回答中的 next，或全量导出响应头 X-Yizhan-Cursor 中的游标；"
        "第一次调用时不带 since，得到当前的游标。",
        "since is not a cursor this change feed gives (cursors look like "
        "v1.<epoch>.<id>.<check>; do not build or edit them).",
        "Send the `next` of the previous answer, or the export's X-Yizhan-Cursor; call "
        "without since the first time to get the cursor of now.",
    ),
    "cursor_expired": E(
        "游标已失效：它属于另一个注册库或旧的变更序列（数据库从备份恢复、迁移），"
        "或它之前的变更记录已不再保留。从这个游标无法再保证得到全部变更。",
        "重新同步：下载全量导出 GET /v1/stations/export，用它替换镜像中的全部驿站，"
        "再从导出响应头 X-Yizhan-Cursor 中的游标继续跟随 GET /v1/stations/changes。",
        "The cursor has expired: it belongs to another registry or an older sequence of "
        "changes (a database restored from a backup, a migration), or the changes before it "
        "are no longer kept. Following it could miss changes.",
        "Re-sync: download GET /v1/stations/export, replace every station of the mirror with "
        "it, then follow GET /v1/stations/changes from the cursor in its X-Yizhan-Cursor.",
    ),
    "bad_request": E(
        "请求无法读取：网址或请求头格式不对、太长，或表单（multipart）损坏。",
        "网址中的中文要做百分号编码（浏览器和常用 HTTP 库会自动处理），网址不要过长；"
        "上传文件请用标准的 multipart/form-data 表单。",
        "The request could not be read: its URL or headers are malformed or too long, or its "
        "multipart form is broken.",
        "Percent-encode non-ASCII text in the URL (browsers and HTTP libraries do), keep the "
        "URL short, and send files as a well-formed multipart/form-data form.",
    ),
    "time_out_of_range": E(
        "时间超出本服务支持的范围（2000—2099 年，北京时间）。",
        "填写 2000 至 2099 年之间的 ISO 8601 时间，如 2026-10-01T09:00+08:00；"
        "不带时区的时间按北京时间理解。",
        "The time is outside the years this service answers for (2000–2099, Asia/Shanghai).",
        "Give an ISO 8601 time between 2000 and 2099, e.g. 2026-10-01T09:00+08:00; a time "
        "without an offset is read as Asia/Shanghai.",
    ),
    "spreadsheet_too_large": E(
        "表格文件解压后过大，为保护服务器，未读取即拒绝。",
        "删去多余的工作表、图片和格式，只保留驿站信息，或分成几个文件上传；"
        "上限见 YIZHAN_UPLOAD_MAX_UNPACKED_BYTES。",
        "The spreadsheet unpacks to more than the server allows; it was refused unread.",
        "Remove extra sheets, pictures and formatting and keep only the stations, or split it "
        "into several files; the limit is YIZHAN_UPLOAD_MAX_UNPACKED_BYTES.",
    ),
    "too_many_columns": E(
        "表格的列数超过上限，可能含有大量空白或无关的列。",
        "删去与驿站无关的列（可先下载 /v1/uploads/template.xlsx 模板对照），再上传；"
        "上限见 YIZHAN_UPLOAD_MAX_COLUMNS。",
        "The spreadsheet has more columns than allowed, likely many empty or unrelated ones.",
        "Delete the columns that are not about stations (compare with the template at "
        "/v1/uploads/template.xlsx) and upload again; the limit is YIZHAN_UPLOAD_MAX_COLUMNS.",
    ),
    "cell_too_long": E(
        "文件中有单元格内容过长（Excel 单元格上限 32,767 个字符，CSV 字段上限 128 KiB）。",
        "检查报告中指出的行和列，删去误粘贴的长文本后重新上传。",
        "A cell of the file is too long (Excel's limit is 32,767 characters; a CSV field's "
        "128 KiB).",
        "Look at the row and column the report names, remove the pasted text, and upload again.",
    ),
    "crs_required": E(
        "没有说明文件中的经纬度是哪种坐标系，不能猜测：选错会使驿站偏离 300—700 米。",
        "从高德或腾讯地图复制的坐标选 gcj02，从百度地图复制的选 bd09，GPS 或天地图的选 wgs84；"
        "上传时填写 crs（命令行 --crs），或在文件中加一列“坐标系”。",
        "The file does not say which coordinate system its positions are in, and none is "
        "guessed: the wrong one puts stations 300–700 m off.",
        "Positions copied from Amap or Tencent are gcj02, from Baidu bd09, from GPS or Tianditu "
        "wgs84: send crs (--crs on the command line), or add a crs column to the file.",
    ),
    "closures_unconfirmed": E(
        "这份完整名单会关闭本工会较多的驿站（或文件中没有一行有效），为防误操作未提交。",
        "先核对报告中的 closures：确实要关闭这些驿站，就在提交时填写 confirm_closures=关闭的数量"
        "（命令行 --confirm-closures N）；否则检查文件的分隔符和表头后重新上传。",
        "This full list would close many of the union's stations (or the file has no valid "
        "row), so it was not committed.",
        "Check `closures` in the report: if those stations really close, commit with "
        "confirm_closures=<that number> (--confirm-closures N); otherwise check the file's "
        "separator and header and upload again.",
    ),
    "too_many_rows": E(
        "文件的行数超过一次上传的上限，未检查即拒绝。",
        "分成几个文件上传（例如按区县或按月份）；上限见 YIZHAN_UPLOAD_MAX_ROWS。",
        "The file has more rows than one upload may hold; it was refused before any row was "
        "checked.",
        "Split it into several files (by district, say); the limit is YIZHAN_UPLOAD_MAX_ROWS.",
    ),
    "bad_route": E(
        "沿途查询的路线无法使用：不是 WKT LINESTRING（GET 的 route）或 GeoJSON LineString"
        "（POST 的 route），少于两个不同的点，或有不是经纬度的坐标。",
        "GET 用 route=LINESTRING(经度 纬度, 经度 纬度, …)，点与点之间用逗号；"
        '长路线用 POST，正文 {"route": {"type": "LineString", "coordinates": '
        "[[经度, 纬度], …]}}，并用 crs 说明坐标系。",
        "The along-route search cannot use the route: it is not a WKT LINESTRING (GET's "
        "route) or a GeoJSON LineString (POST's route), has fewer than two distinct "
        "positions, or a position that is not a longitude and latitude.",
        "GET: route=LINESTRING(lon lat, lon lat, ...); long routes: POST with "
        '{"route": {"type": "LineString", "coordinates": [[lon, lat], ...]}} and crs.',
    ),
    "route_too_long": E(
        "路线超过一次沿途查询的上限：长 3000 公里以上，或超过 10000 个点。",
        "把路线分成几段分别查询，或先简化路线（去掉多余的点）。",
        "The route is over what one along-route search takes: longer than 3,000 km, or more "
        "than 10,000 vertices.",
        "Split the route into parts and ask for each, or simplify it (drop vertices).",
    ),
    "bad_page_token": E(
        "next 翻页标记不属于这次查询：路线、距离、筛选条件、时间或速度与取得它的查询不同，"
        "或标记已损坏。",
        "翻页时除 next（和 limit、out_crs、f）外，其他参数与第一页完全相同；"
        "要换路线或条件，去掉 next 从第一页重新查询。",
        "The next token does not belong to this request: the route, distance, filters, time "
        "or speed differ from the request that gave it, or the token is damaged.",
        "Repeat the first page's request exactly, adding next (limit, out_crs and f may "
        "change); for another route or filters, start again without next.",
    ),
}
