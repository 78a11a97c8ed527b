"""Knowledge the console tests load into a unit: one licensing regulation, the demo news item and
two short circulars, so pages (and the screenshots in docs/console) show a unit with several
documents, and an answer has other documents to tell apart from its source."""

from __future__ import annotations

from dataclasses import dataclass

from stack.launcher import REPO_ROOT


@dataclass(frozen=True)
class SampleDocument:
    document_id: str
    title: str
    text: str


LICENCE_TEXT = (
    "Chương I. Quy định chung\n"
    "Điều 1. Phạm vi điều chỉnh\n"
    "Quy chế này quy định việc cấp giấy phép hoạt động báo chí điện tử.\n\n"
    "Chương II. Thủ tục cấp phép\n"
    "Điều 5. Thời hạn cấp phép\n"
    "Thời hạn cấp giấy phép hoạt động báo chí điện tử là 30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ.\n\n"
    "Điều 6. Hồ sơ đề nghị cấp phép\n"
    "Hồ sơ gồm tờ khai, đề án hoạt động và bản sao quyết định thành lập cơ quan chủ quản.\n"
)
LICENCE = SampleDocument("quy-che-cap-phep", "Quy chế cấp phép báo chí điện tử", LICENCE_TEXT)
LICENCE_QUESTION = "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?"

ADVERTISING = SampleDocument(
    "05/2024/TT-BTTTT",
    "Thông tư 05/2024/TT-BTTTT về quảng cáo trên báo điện tử",
    "BỘ THÔNG TIN VÀ TRUYỀN THÔNG\n"
    "Số: 05/2024/TT-BTTTT\n"
    "THÔNG TƯ\n"
    "Quy định về quảng cáo trên báo điện tử\n\n"
    "Điều 3. Diện tích quảng cáo\n"
    "1. Quảng cáo trên báo điện tử không được vượt quá 20% diện tích mỗi trang.\n"
    "2. Quảng cáo phải tách biệt rõ với nội dung thông tin báo chí.\n\n"
    "Điều 4. Báo cáo định kỳ\n"
    "Cơ quan báo chí gửi báo cáo hoạt động quảng cáo hằng quý về Cục Báo chí trước ngày 15 của tháng "
    "đầu quý sau.\n",
)
ADVERTISING_QUESTION = "Quảng cáo trên báo điện tử được chiếm tối đa bao nhiêu diện tích mỗi trang?"

PRESS_CARDS = SampleDocument(
    "12/2023/TT-BTTTT",
    "Thông tư 12/2023/TT-BTTTT về cấp thẻ nhà báo",
    "BỘ THÔNG TIN VÀ TRUYỀN THÔNG\n"
    "Số: 12/2023/TT-BTTTT\n"
    "THÔNG TƯ\n"
    "Hướng dẫn cấp, đổi thẻ nhà báo\n\n"
    "Điều 2. Kỳ hạn thẻ nhà báo\n"
    "Thẻ nhà báo có kỳ hạn 5 năm; hết kỳ hạn, cơ quan báo chí đề nghị đổi thẻ cho người đủ điều kiện.\n\n"
    "Điều 3. Hồ sơ đổi thẻ\n"
    "Hồ sơ đổi thẻ gồm bản khai đề nghị cấp thẻ và danh sách đề nghị của cơ quan báo chí.\n",
)

DEMO_NEWS = SampleDocument(
    "mic-giao-ban-2024-06",
    "Hội nghị giao ban quản lý nhà nước tháng 6/2024",
    (REPO_ROOT / "config" / "demo" / "mic-giao-ban-2024-06.txt").read_text(encoding="utf-8"),
)

SEVERAL_DOCUMENTS = (LICENCE, ADVERTISING, PRESS_CARDS, DEMO_NEWS)
