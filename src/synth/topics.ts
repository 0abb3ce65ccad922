/**
 * Per-topic vocabularies for the synthetic MIND-format corpus. Each category has
 * subcategories with words of their own; categories share a general vocabulary and
 * each borrows words from a neighbour, so that topics overlap as real news does.
 */
export interface Topic {
  category: string;
  words: string[];
  subcategories: Record<string, string[]>;
  neighbour: string;
}

const w = (s: string): string[] => s.split(" ");

export const TOPICS: Topic[] = [
  {
    category: "sports",
    neighbour: "health",
    words: w("season coach team game win playoff fans stadium league rookie trade score victory defeat championship"),
    subcategories: {
      football_nfl: w("quarterback touchdown nfl yards sack draft"),
      basketball_nba: w("nba dunk rebounds lakers celtics point-guard"),
      soccer: w("goal striker premier penalty midfielder derby"),
      tennis: w("wimbledon serve grand-slam racket set baseline"),
    },
  },
  {
    category: "news",
    neighbour: "politics",
    words: w("police officials report city county residents investigation community local announced authorities"),
    subcategories: {
      newscrime: w("arrested suspect robbery shooting charged court"),
      newsus: w("state federal national nationwide governor agency"),
      newsworld: w("embassy border foreign minister refugees summit"),
    },
  },
  {
    category: "politics",
    neighbour: "news",
    words: w("senate congress vote election campaign president bill democrats republicans policy lawmakers"),
    subcategories: {
      elections: w("ballot polls primary candidate debate voters"),
      policy: w("healthcare tax reform budget legislation tariff"),
      impeachment: w("inquiry testimony whistleblower hearing subpoena articles"),
    },
  },
  {
    category: "finance",
    neighbour: "autos",
    words: w("market stocks investors shares earnings economy billion percent company profit rates"),
    subcategories: {
      markets: w("dow nasdaq rally selloff index futures"),
      personalfinance: w("retirement savings mortgage credit budget 401k"),
      companies: w("ceo merger acquisition layoffs quarterly revenue"),
    },
  },
  {
    category: "lifestyle",
    neighbour: "foodanddrink",
    words: w("home style family tips ideas life holiday people simple best easy"),
    subcategories: {
      lifestyleroyals: w("prince duchess royal palace meghan queen"),
      shopping: w("deals sale amazon gift discount black-friday"),
      parenting: w("kids toddler parents school teen baby"),
    },
  },
  {
    category: "health",
    neighbour: "sports",
    words: w("doctors study risk patients hospital disease health brain heart symptoms research"),
    subcategories: {
      fitness: w("workout exercise running muscles weight-loss cardio"),
      medical: w("cancer diagnosis treatment surgery vaccine flu"),
      nutrition: w("diet protein sugar vitamins calories keto"),
    },
  },
  {
    category: "foodanddrink",
    neighbour: "lifestyle",
    words: w("recipe restaurant food dinner chef kitchen taste menu cooking delicious meal"),
    subcategories: {
      recipes: w("bake oven casserole soup roasted sauce"),
      restaurants: w("diner chain opening brunch pizza burger"),
      drinks: w("wine beer cocktail coffee bourbon brewery"),
    },
  },
  {
    category: "travel",
    neighbour: "weather",
    words: w("trip destination hotel flight travelers vacation airport tourists city beach island"),
    subcategories: {
      traveltrip: w("itinerary road-trip cruise passport backpacking resort"),
      travelnews: w("airline delays tsa cancellations passengers booking"),
    },
  },
  {
    category: "autos",
    neighbour: "finance",
    words: w("car vehicle drivers engine model truck ford tesla road electric price"),
    subcategories: { autosnews: w("recall dealership sales automaker gm toyota"), autosreview: w("horsepower interior sedan suv test-drive mileage") },
  },
  {
    category: "weather",
    neighbour: "travel",
    words: w("storm forecast temperatures rain snow winds weekend cold weather warning coast"),
    subcategories: {
      weathertopstories: w("hurricane tornado blizzard flooding evacuation damage"),
      climate: w("warming emissions carbon glacier drought wildfire"),
    },
  },
  {
    category: "entertainment",
    neighbour: "music",
    words: w("star show fans movie actor hollywood netflix series celebrity premiere award"),
    subcategories: {
      movies: w("box-office sequel director trailer marvel oscar"),
      tv: w("episode finale season-premiere sitcom reality cast"),
      celebrity: w("divorce wedding red-carpet instagram split dating"),
    },
  },
  {
    category: "music",
    neighbour: "entertainment",
    words: w("album song singer tour concert band fans grammy rapper stage track"),
    subcategories: { musicnews: w("billboard chart single release collaboration label"), musiclive: w("festival setlist arena tickets encore performance") },
  },
  {
    category: "video",
    neighbour: "entertainment",
    words: w("watch video viral clip footage caught camera moment shows incredible"),
    subcategories: { animals: w("dog puppy cat rescue zoo wildlife"), viral: w("prank dance challenge tiktok filmed surprise") },
  },
  {
    category: "tv",
    neighbour: "entertainment",
    words: w("tv ratings network host anchor late-night broadcast channel viewers primetime"),
    subcategories: { tvnews: w("nbc cbs abc fox anchor ratings"), tvreviews: w("critics binge streaming pilot showrunner spoilers") },
  },
];

export const GENERAL = w(
  "new first big top just after how why what more says year day week time out over could may back report update " +
    "world america people best most amid latest major huge surprising here heres things know",
);

export const TEMPLATES: string[][] = [
  ["G", "S", "C", "C", "G", "S"],
  ["C", "S", "G", "C", "N", "G"],
  ["S", "C", "G", "G", "S", "C", "N"],
  ["G", "G", "C", "S", "C"],
  ["C", "G", "S", "N", "C", "G", "S", "G"],
];
