#include "models/tokenizer/builtin_corpus.h"

namespace tspserve {
namespace {

// Written for this project. Kept varied rather than large: every script and a few code idioms
// appear so that trained vocabularies have merges for each of them.
constexpr std::string_view kCorpus = R"corpus(The lighthouse keeper counted the ships every evening. Some nights there were
three, some nights there were none, and once, during the long storm of the autumn, there were
seventeen of them sheltering in the bay at the same time. He wrote each number in a green
notebook, together with the wind, the height of the waves and the colour of the sky.

"Why do you keep all those numbers?" his niece asked when she came to stay for the summer.
"Because the sea forgets," he said, "and somebody ought to remember." She didn't understand
it then. Years later, when she opened the notebook again, she found that it wasn't about ships
at all: it was a diary of a quiet life, written in tides and weather.

Baking bread is mostly waiting. You mix 500 g of flour, 350 ml of water, 10 g of salt and a
little yeast; you fold the dough four times in the first two hours; then you leave it alone
overnight. In the morning the kitchen smells of something slightly sour and very much alive.
The oven should be hot: 250 degrees for the first 20 minutes, then 220 for another 25.

We'll meet at the station at 7:45, won't we? I've already bought the tickets, they're in my
bag, and you'd better bring an umbrella because it's going to rain. She's late again; he'll
wait. I'm sure we've forgotten something, but it'll be fine.

Meeting notes, 2024-03-14: revenue grew 12.5% to $4,318,200; costs were 3,907,115.40;
the team shipped 27 releases and closed 1,046 tickets. Next review: Q3, week 38.
Phone: +1 (555) 010-2299. Version 3.11.4 replaces 3.10.12. Pi is roughly 3.14159265358979.

def moving_average(values, window=3):
    """Returns the mean of each run of `window` consecutive values."""
    if window <= 0:
        raise ValueError("window must be positive")
    total = sum(values[:window])
    result = [total / window]
    for i in range(window, len(values)):
        total += values[i] - values[i - window]
        result.append(total / window)
    return result

int CountWords(const std::string& text) {
  int count = 0;
  bool in_word = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++count;
    }
  }
  return count;
}

{"name": "garden-sensor", "readings": [18.5, 19.25, 21.0], "ok": true, "battery": 0.87}
SELECT city, COUNT(*) AS visits FROM trips WHERE year >= 2020 GROUP BY city ORDER BY visits DESC;
for f in *.log; do grep -c "ERROR" "$f"; done | sort -n | tail -3

	Tabs	separate	these	columns	and	this	line	ends	with	spaces.   
Several    spaces     between      words, and a blank line follows.


Der Zug nach München fährt um halb neun vom Gleis vier ab. Wir müssen uns beeilen, sonst
verpassen wir ihn. Die Brötchen vom Bäcker an der Ecke sind übrigens die besten der Stadt,
und der Kaffee schmeckt nach Haselnuss. Über die Brücke gehen täglich fünftausend Menschen.

Le marché du samedi ouvre à sept heures. On y trouve des pêches, des cerises, du fromage de
chèvre et un vieux monsieur qui répare les parapluies. « C'est ma dernière saison », dit-il
chaque année, et chaque année il revient. Où est la boulangerie ? Juste à côté de l'église.

雨が降り始めたので、私たちは駅前の小さな喫茶店に入りました。窓の外では、傘を差した人々が
急ぎ足で通り過ぎていきます。店主はコーヒーをゆっくりと淹れてくれました。東京の夜は静かです。
明日は晴れるでしょうか。ひらがな、カタカナ、漢字を混ぜて書くのが日本語の特徴です。

今天早上我去公园散步，看见很多老人在打太极拳。湖边的柳树已经发芽了，空气里有花的香味。
我们下午三点在图书馆见面，然后一起去吃饭。这个城市的地铁很方便，每五分钟就有一班车。

Emoji show up in chat logs all the time: 🙂 😂 👍 🎉 🚀 ❤️ and families like 👩‍👩‍👧‍👦 or
flags such as 🇩🇪 🇫🇷 🇯🇵. Skin tones: 👋🏽 👍🏿. Weather: ☀️ 🌧️ ⛄ 🌈. Food: 🍞 🧀 🍜 🍣.

Mathematics: ∑ᵢ xᵢ² ≤ (∑ᵢ |xᵢ|)², α + β = γ, ∞ > 10⁶, √2 ≈ 1.41421, 3 × 4 ÷ 2 = 6.
Prices: €12,50 · £9.99 · ¥1200 · ₹450. Arrows → ← ↑ ↓ and boxes ┌─┐ │ │ └─┘.

The river was wider than anyone remembered. It had rained for nine days, and the water now
covered the lower meadow, the path to the mill and half of the old stone bench where people
used to sit and watch the swallows. Children threw sticks from the bridge and raced to the
other side to see whose stick came through first. Nobody won twice in a row; the current
decided, as it always does. By the end of the week the water had fallen again, leaving a line
of dried grass on the fences to show how high it had been.

In the workshop, every tool has a place: chisels on the left, saws on the back wall, and the
planes in a drawer lined with old wool. The carpenter says that a tidy bench is half the work.
Measure twice, cut once; sand with the grain; never rush the glue. A good joint needs no nails.

class Cache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        value = self.items.pop(key, None)
        if value is not None:
            self.items[key] = value
        return value

    def put(self, key: str, value: bytes) -> None:
        self.items.pop(key, None)
        if len(self.items) >= self.capacity:
            self.items.pop(next(iter(self.items)))
        self.items[key] = value

template <typename T>
T Clamp(T value, T low, T high) {
  return value < low ? low : (high < value ? high : value);
}

// Returns the index of the first element not less than `target`, or size() if none.
size_t LowerBound(const std::vector<int64_t>& sorted, int64_t target) {
  size_t lo = 0, hi = sorted.size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (sorted[mid] < target) lo = mid + 1; else hi = mid;
  }
  return lo;
}

Timetable: 06:15 08:40 11:05 13:30 15:55 18:20 20:45 23:10. Platform 2, coach 14, seat 63.
Serial numbers: A7-44910, B2-00031, C9-71256. Temperatures: -3.5, 0, 4.25, 17, 29.8, 31.
Hexadecimal 0xDEADBEEF, 0x7fffffff, binary 0b101101, octal 0o755, and 1e-9 in science.

Die Bibliothek bleibt am Sonntag geschlossen. Öffnungszeiten: Montag bis Freitag von neun bis
achtzehn Uhr. Ausgeliehene Bücher können Sie jederzeit in den Rückgabekasten werfen.
Nous avons réservé une table pour quatre personnes près de la fenêtre. Le serveur a recommandé
le poisson du jour, mais les enfants préféraient des crêpes au chocolat. Ça coûte combien ?

夏休みには祖母の家に行きます。庭にはトマトとキュウリがたくさん実っていて、毎朝水をやるのが
私の仕事です。夜になると、虫の声がとてもにぎやかです。
学习一门新的语言需要耐心。每天读一点，写一点，说一点，慢慢就会进步。不要害怕犯错误。

Questions people ask: What's the weather like? Who'd have thought? They've gone home; we're
staying. I'd've come if I'd known. Don't, can't, shouldn't, isn't, aren't, wasn't, weren't.
ALL CAPS SENTENCES ARE LOUD. MixedCase identifiers like HttpRequestParser and snake_case_names
and kebab-case-names and SCREAMING_SNAKE_CONSTANTS appear in code reviews every day.

Погода в горах меняется быстро: утром светит солнце, а к обеду уже идёт снег. Мы поднялись к
озеру за четыре часа, сварили чай на маленькой горелке и долго смотрели на облака над хребтом.
Στο μικρό λιμάνι οι ψαράδες επιστρέφουν νωρίς το πρωί. Η θάλασσα είναι ήσυχη και ο ουρανός καθαρός.
서울의 봄은 짧지만 아름답습니다. 우리는 강변을 따라 자전거를 타고 카페에서 잠시 쉬었습니다.
La biblioteca municipal abre a las nueve. Los niños leen cuentos mientras sus padres toman café.
A ponte velha foi reconstruída depois da cheia, e agora os barcos passam outra vez por baixo dela.
Het regent al drie dagen in Amsterdam, maar de fietsers laten zich niet tegenhouden.

北京的秋天天高云淡，是一年中最舒服的季节。周末的时候，很多家庭会去郊外爬山、摘苹果。
晚上回到家里，妈妈已经做好了饺子和西红柿鸡蛋汤。我们一边吃饭，一边聊今天遇到的有趣的事情。
程序员在调试代码的时候需要耐心和细心。先写测试，再修改实现，最后检查性能和内存的使用情况。
这家书店开了三十多年，老板认识每一位常客。书架上既有古典小说，也有最新出版的科学杂志。
火车穿过长长的隧道，窗外突然出现了一片金黄色的油菜花田。孩子们兴奋地趴在窗户上拍照。

駅から歩いて五分のところに、古い神社があります。秋になると、境内の紅葉がとてもきれいです。
新しいプロジェクトでは、データベースの設計から始めて、サーバーとクライアントを順番に作ります。
週末は友達と山に登る予定ですが、天気予報によると雨が降るかもしれません。お弁当を作りましょう。
図書館で借りた本を読み終わったので、明日返しに行きます。次はどんな本を読もうかな。
猫が窓辺で気持ちよさそうに眠っています。外では子供たちが元気に遊んでいる声が聞こえます。

Unsere Nachbarin züchtet seit Jahren Tomaten auf dem Balkon. Im Spätsommer verschenkt sie
körbeweise Früchte an das ganze Haus, und jeder bekommt dazu ein handgeschriebenes Rezept.
Quand il pleut à Paris, les terrasses se vident en quelques secondes, puis se remplissent
aussitôt que le soleil revient. Les touristes ouvrent leurs cartes, les habitants haussent
les épaules et commandent un deuxième café.

The committee reviewed seventeen proposals, approved nine of them, and asked the remaining
authors to resubmit with clearer budgets. Several reviewers noted that the strongest proposals
described measurable goals, realistic timelines and honest risks. One proposal suggested
planting orchards along abandoned railway lines; another wanted to digitize handwritten weather
records from the nineteenth century. Both were funded, somewhat to everyone's surprise.

async function fetchJson(url, retries = 3) {
  for (let attempt = 1; attempt <= retries; attempt++) {
    const response = await fetch(url);
    if (response.ok) return response.json();
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
  }
  throw new Error(`request to ${url} failed after ${retries} attempts`);
}

fn parse_pairs(input: &str) -> Vec<(String, u32)> {
    input
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter_map(|(k, v)| v.trim().parse().ok().map(|n| (k.trim().to_string(), n)))
        .collect()
}

<html><body><h1 class="title">Inventory</h1><ul id="items"><li data-qty="12">Bolts</li></ul></body></html>
2023-11-05T14:22:09Z INFO  worker-3 processed batch=418 rows=65536 latency_ms=12.7 status=OK
2023-11-05T14:22:10Z WARN  worker-1 retrying request id=9f2c7a attempt=2 backoff_ms=250

हर सुबह दादी बगीचे में पौधों को पानी देती हैं और चिड़ियों के लिए दाना रखती हैं। गर्मियों में आम के पेड़ पर बहुत फल आते हैं।
في المساء يجتمع الجيران في الساحة الصغيرة، يشربون الشاي ويتحدثون عن أخبار المدينة والطقس.
Dün akşam sahilde yürüyüş yaptık; rüzgâr serindi ve martılar teknelerin etrafında dönüyordu.
Zima w górach była długa, ale w marcu śnieg zaczął topnieć i strumienie znowu szumiały.
冬天的早晨，街边的小摊冒着热气，包子、油条和豆浆的香味让路过的人忍不住停下脚步。
会议结束以后，工程师们整理了测试结果，发现新版本的延迟降低了百分之二十，内存占用也更稳定。
海辺の町では、朝早くから漁師たちが網を準備しています。昼過ぎには市場に新鮮な魚が並びます。
この関数は入力を検証してから、結果をキャッシュに保存します。エラーの場合は例外を投げずに状態を返します。
가을이 되면 산마다 단풍이 물들고, 사람들은 주말마다 등산을 하러 갑니다. 저녁에는 따뜻한 국수를 먹었습니다.

Short lines.
A.
Bb cc.
1 22 333 4444 55555 666666 7777777 88888888 999999999 1234567890
)corpus";

}  // namespace

std::string_view BuiltinCorpus() { return kCorpus; }

}  // namespace tspserve
