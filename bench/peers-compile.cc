// The C++ compile workload of run-peers.sh: g++ -O2 -c of this file.  It
// pulls in <regex>, <map> and <iostream> and instantiates them, so cc1plus
// parses and optimises a lot of template code, allocating from deep and
// varied stacks.
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <vector>

std::map<std::string, std::vector<int>>
index_words (const std::string &text)
{
  std::map<std::string, std::vector<int>> where;
  std::regex word ("[A-Za-z_][A-Za-z_0-9]*");
  int n = 0;
  for (std::sregex_iterator i (text.begin (), text.end (), word), end; i != end; ++i)
    where[i->str ()].push_back (n++);
  return where;
}

std::string
redact (const std::string &text)
{
  return std::regex_replace (text, std::regex ("[0-9]{3,}"), "###");
}

int
main ()
{
  std::string line, all;
  while (std::getline (std::cin, line))
    all += line + '\n';
  for (const auto &[w, at] : index_words (redact (all)))
    std::cout << w << ' ' << at.size () << '\n';
  return 0;
}
