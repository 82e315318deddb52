// Text tokeniser for free-text columns (product descriptions, titles): turns a cell into the
// distinct word tokens that become hashed features.
//
// Rules: ASCII letters are lower-cased; every byte that is not an ASCII letter or digit ends a
// token, except bytes >= 0x80, which stay inside tokens so UTF-8 words are not cut apart (they
// are not lower-cased). Tokens shorter than `min_length` bytes are dropped, and so are the
// built-in English stop words when `stop_words` is set ("the", "of", "and", ... -- function
// words that say nothing about a product; see IsStopWord). Each distinct token is returned
// once; their order is unspecified.
//
// Thread-safety: the functions are thread-safe; a caller's buffers are its own.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace embark {

// Tokenises `text`. *lowered receives the lower-cased text and *tokens (cleared first) views
// into it, valid until *lowered changes.
void TokenizeText(std::string_view text, int min_length, bool stop_words, std::string* lowered,
                  std::vector<std::string_view>* tokens);

// True for a word of the built-in English stop-word list (lower-case input).
bool IsStopWord(std::string_view lower_word);

}  // namespace embark
