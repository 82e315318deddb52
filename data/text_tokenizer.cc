#include "data/text_tokenizer.h"

#include <algorithm>

namespace embark {
namespace {

// English function words: articles, pronouns, auxiliaries, prepositions, conjunctions. Kept
// short on purpose: words that could describe a product (colours, sizes, "set", "pack") stay.
constexpr std::string_view kStopWords[] = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
    "yourselves"};

// Above this many tokens the distinct ones are found by sorting instead of pairwise scans.
constexpr size_t kLinearDedupLimit = 32;

inline bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
}

}  // namespace

bool IsStopWord(std::string_view lower_word) {
  // The list is written in sorted order (a test checks), so a binary search needs no index.
  return std::binary_search(std::begin(kStopWords), std::end(kStopWords), lower_word);
}

void TokenizeText(std::string_view text, int min_length, bool stop_words, std::string* lowered,
                  std::vector<std::string_view>* tokens) {
  tokens->clear();
  lowered->assign(text.data(), text.size());
  for (char& ch : *lowered) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  const std::string_view s = *lowered;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && !IsWordByte(static_cast<unsigned char>(s[i]))) ++i;
    size_t e = i;
    while (e < s.size() && IsWordByte(static_cast<unsigned char>(s[e]))) ++e;
    if (e > i) {
      const std::string_view tok = s.substr(i, e - i);
      if (static_cast<int>(tok.size()) >= min_length && !(stop_words && IsStopWord(tok))) {
        if (tokens->size() < kLinearDedupLimit) {
          if (std::find(tokens->begin(), tokens->end(), tok) == tokens->end()) tokens->push_back(tok);
        } else {
          tokens->push_back(tok);
        }
      }
    }
    i = e;
  }
  if (tokens->size() >= kLinearDedupLimit) {
    std::sort(tokens->begin(), tokens->end());
    tokens->erase(std::unique(tokens->begin(), tokens->end()), tokens->end());
  }
}

}  // namespace embark
