#include "gen/prompts.h"

#include <span>

#include "cir/core.h"

namespace cir::gen::prompts {

// The strings below are upstream data, kept byte-exact (one C literal per source line, every
// "\n" written out, so trailing spaces survive whitespace-trimming tools). Sources:
// - kSeize*: yzy-bupt/SEIZE src/LLM-based_editing_reasoner_circo.py @6101d74c (identical in LDRE
//   src/reasoning_and_editing.py). The SEIZE repository carries no licence file in the copy read;
//   the two strings are short prompts used as-is for reproducing the method.
// - kCirevl*: ExplainableML/Vision_by_Language src/prompts.py @67c88dc5, MIT License,
//   Copyright (c) 2024 EML Tübingen.
// All nine match the byte counts and SHA-256 values of generation.md (test_gen_prompts checks it).

const std::string_view kSeizeSystem =
    "I have an image. Given an instruction to edit the image, carefully generate a description of the edited image.";

const std::string_view kSeizeUserTemplate =
    "I will put my image content beginning with \"Image Content:\". The instruction I provide will begin with \"Instruction:\". The edited description you generate should begin with \"Edited Description:\". You just generate one edited description only begin with \"Edited Description:\". The edited description needs to be as simple as possible and only reflects image content. Just one line.\n"
    "A example:\n"
    "Image Content: a man adjusting a woman's tie.\n"
    "Instruction: has the woman and the man with the roles switched.\n"
    "Edited Description: a woman adjusting a man's tie.\n"
    "\n"
    "Image Content: {}\n"
    "Instruction: {}\n"
    "Edited Description:";

const std::string_view kCirevlBlipPrompt =
    "Describe the image in complete detail. You must especially focus on all the objects in the image";

const std::string_view kCirevlContextual =
    "\n"
    "I have an image. Given an instruction to edit the image, carefully generate a description of the \n"
    "edited image. I will put my image content beginning with “Image Content:”. The instruction I provide will begin with “Instruction:\". \n"
    "The edited description you generate should begin with “Edited Description:\". The caption you generate should only talk about the modified image and not the original image. \n"
    "Keep the caption as short as possible. Avoid adding imaginary things. Use the examples below for reference.\n"
    "\n"
    "Image Content: the men are holding a large fish on a stick\n"
    "Instruction: People watch behind the fences of animals in the center.\n"
    "Edited Description: people, a bull, a crowd, a fence, a ring, a bull, a ring, a\n"
    "\n"
    "Image Content: a man in a blue robe is adjusting a man in a blue robe\n"
    "Instruction: Change the gowns to black with a navy blue collar\n"
    "Edited Description: a woman in a cap and gown is standing in front of a group of people\n"
    "\n"
    "Image Content: people, sled dogs, snow, sled, sled dogs, sled, sled dogs, sled\n"
    "Instruction: Dog led sled moves in front of another person behind it in the snow.\n"
    "Edited Description: a man is pulling a sled full of huskies down a snowy trail\n"
    "\n"
    "Image Content: the penguin, the snow, the penguin, the snow, the penguin, the penguin, the penguin, the penguin,\n"
    "Instruction: The Target Image shows a single penguin standing on the ice with a fish in its beak.\n"
    "Edited Description: the penguin is holding a fish in its beak\n"
    "\n"
    "Image Content: the panda bear is sitting in the grass eating bamboo\n"
    "Instruction: Replace the panda with a group of dogs and replace the walls with wooden fences.\n"
    "Edited Description: Three dogs are laying down on a deck\n"
    "\n"
    "Image Content: The dog is playing with a dachshund on the beach\n"
    "Instruction: Remove the small dog and have the large dog face the opposite direction.\n"
    "Edited Description: The dog is standing in the sand on a beach\n"
    "\n"
    "Image Content: there is a bottle of pepsi cola sitting on a table\n"
    "Instruction: show three bottles of soft drink\n"
    "Edited Description: Three bottles of soft drink sitting on a table.\n"
    "\n"
    "Image Content: a group of people posing for a photo in a lab\n"
    "Instruction: reduce the number of people to four, make them stand outside on grass\n"
    "Edited Description: Four people posing for a photo standing on grass.\n"
    "\n"
    "Image Content: There is a herd of antelopes on a dirt road\n"
    "Instruction: The target photo has one antelope in a wooded area looking back at the camera.\n"
    "Edited Description: One antelope in a wooded area looking back at the camera.\n"
    "\n"
    "Image Content: There is a bakery with a counter full of baked goods\n"
    "Instruction: The target photo is of a sticker display in a store.\n"
    "Edited Description: A sticker display in a store.\n"
    "\n"
    "Image Content: The doctor is holding up a syringe\n"
    "Instruction: Change to a close-up photograph of a female nurse and a real syringe, must be looking directly towards camera\n"
    "Edited Description: A close-up of a female nurse holding a syringe, looking directly towards the camera.\n"
    "\n"
    "Image Content: Two dogs are sitting in the back of a truck\n"
    "Instruction: Push the brown dog on the blue float in the pool.\n"
    "Edited Description: The brown dog is on a blue float in the pool.\n"
    "\n"
    "Image Content: The baboon is sitting in a tree\n"
    "Instruction: make monkey stand on top of a bucket\n"
    "Edited Description: The baboon is standing on top of a bucket.\n"
    "\n"
    "Image Content: three people are swimming with sting rays\n"
    "Instruction: Unlike the Reference Image, I want the Target Image to show a single person snorkeling and holding a sea turtle\n"
    "Edited Description: A single person snorkeling and holding a sea turtle.\n"
    "\n"
    "Image Content: There is a plate with lemons, onions, and fish on it\n"
    "Instruction: change shrimps to bowls of fruits\n"
    "Edited Description: There is a plate with lemons, onions, and bowls of fruits on it.\n"
    "\n"
    "Image Content: There is a glass bowl filled with a brown mixture on a wooden table\n"
    "Instruction: The target photo shows the rising of a ball of dough at the top of the same white bowl\n"
    "Edited Description: A ball of dough rising at the top of a white bowl on a wooden table.\n"
    "\n"
    "Image Content: There is a silver water bottle on a black background\n"
    "Instruction: Remove thermal bottle, Add pump-style bottle (goldtone pump, white cylindrical bottle with marble finish), Change to light background\n"
    "Edited Description: A pump-style bottle with a goldtone pump and a white cylindrical bottle with a marble finish on a light background.\n"
    "\n"
    "Image Content: There is a bottle of beer next to a glass of beer\n"
    "Instruction: Put the opened green bottle in front of woman on the phone. \n"
    "Edited Description: An opened green bottle of beer in front of a woman on the phone.\n"
    "\n"
    "Image Content: a group of boys are posing on a bed with pillows\n"
    "Instruction: Change to a bigger pile of pillows, cushions with variant colours, no people in view\n"
    "Edited Description: A bigger pile of pillows and cushions with variant colors, no people in view.\n"
    "\n"
    "Image Content: There is a black and brown puppy sitting next to a teddy bear\n"
    "Instruction: Add an owner with the dog on its leash\n"
    "Edited Description: A black and brown puppy on a leash next to its owner and a teddy bear.\n"
    "\n"
    "Image Content: a pug dog is running in a grassy field\n"
    "Instruction: Add a human wearing a pug mask\n"
    "Edited Description: A pug dog and a human wearing a pug mask are running in a grassy field.\n"
    "\n"
    "Image Content: the dog is wearing a mustache and a bowtie\n"
    "Instruction: Have two different dogs on the ground facing left but one standing on its hind legs.\n"
    "Edited Description: Two different dogs on the ground facing left, one standing on its hind legs, both wearing a mustache and a bowtie.\n"
    "\n"
    "Image Content: The image shows a group of pins on a piece of paper\n"
    "Instruction: Add spheres to the end of the safety pins\n"
    "Edited Description: A group of pins with spheres on the ends on a piece of paper.\n"
    "\n"
    "Image Content: the gorilla is eating a banana from a bag\n"
    "Instruction: Facing the other direction, closer photo\n"
    "Edited Description: A closer photo of the gorilla facing the opposite direction, eating a banana from a bag.\n";

const std::string_view kCirevlStructural =
    "\n"
    "I have an image. Given an instruction to edit the image, carefully generate a description of the \n"
    "edited image. I will put my image content beginning with “Image Content:”. The instruction I provide will begin with “Instruction:\". \n"
    "The edited description you generate should begin with “Edited Description:\". The edited description you generate should be complete and can cover various semantic aspects, such as \n"
    "cardinality, addition, negation, direct addressing, compare & change, comparative, conjunction, spatial relations & background, viewpoint. Use the examples below as reference for these aspects:\n"
    "\n"
    "\"cardinality\"\n"
    "Image Content: A bee is flying around a flower on a field.\n"
    "Instruction: Duplicate the flower the bee is flying around.\n"
    "Edited Description: A bee is flying around two flowers on a field.\n"
    "\n"
    "\"addition\"\n"
    "Image Content: A dog is walking in a grassy field.\n"
    "Instruction: Add a butterfly to the scene.\n"
    "Edited Description: A dog is walking next to a butterfly in a grassy field.\n"
    "\n"
    "\"negation\"\n"
    "Image Content: A plane flying in the cloudy sky.\n"
    "Instruction: Remove the clouds from the sky.\n"
    "Edited Description: A plane flying in the clear sky.\n"
    "\n"
    "\"direct addressing\"\n"
    "Image Content: The eiffel tower on a summer day.\n"
    "Instruction: Highlight the eiffel tower with a red circle.\n"
    "Edited Description: The eiffel tower, highlighted with a red circle, on a summer day.\n"
    "\n"
    "\"compare & change\"\n"
    "Image Content: The panda bear is sitting in the grass eating bamboo\n"
    "Instruction: Replace the panda with a group of dogs and replace the bamboo with bones.\n"
    "Edited Description: Three dogs are laying in the grass munching on some bones.\n"
    "\n"
    "\"comparative\"\n"
    "Image Content: A picture of the sun and the moon.\n"
    "Instruction: Make the sun brighter than the moon.\n"
    "Edited Description: A picture of the sun shining much brighter than the moon.\n"
    "\n"
    "\"conjunction\"\n"
    "Image Content: Several children are playing on the ground.\n"
    "Instruction: Add both a cat and a dog to the image.\n"
    "Edited Description: Several children are playing with a cat and a dog.\n"
    "\n"
    "\"spatial relations & background\"\n"
    "Image Content: A man standing on a sled pulled by several sled dogs, next to a small wooden house.\n"
    "Instruction: Place the house behind the man, and make it much larger.\n"
    "Edited Description: A man standing on a sled pulled by several sled dogs, in front of a large wooden house.\n"
    "\n"
    "\"viewpoint\"\n"
    "Image Content: A picture of a salad bowl.\n"
    "Instruction: Change the perspective to a bird's-eye view.\n"
    "Edited Description: A salad bowl viewed from above. \n"
    " \n"
    "\n"
    "The edited description needs to be as simple as possible. The instruction does not need to explicitly indicate which\n"
    "type it is. Avoid adding imaginary things. Each time generate one instruction and one edited description only. Keep the edited description as short as possible. Here are some more examples for reference:\n"
    "\n"
    "Image Content: the men are holding a large fish on a stick\n"
    "Instruction: People watch behind the fences of animals in the center.\n"
    "Edited Description: people, a bull, a crowd, a fence, a ring, a bull, a ring, a\n"
    "\n"
    "Image Content: a man in a blue robe is adjusting a man in a blue robe\n"
    "Instruction: Change the gowns to black with a navy blue collar\n"
    "Edited Description: a woman in a cap and gown is standing in front of a group of people\n"
    "\n"
    "Image Content: people, sled dogs, snow, sled, sled dogs, sled, sled dogs, sled\n"
    "Instruction: Dog led sled moves in front of another person behind it in the snow.\n"
    "Edited Description: a man is pulling a sled full of huskies down a snowy trail\n"
    "\n"
    "Image Content: the legend of zelda ocarina of time t-shirt\n"
    "Instruction: is green and a graphic on it and is green\n"
    "Edited Description: the shirt is green with an image of link holding a sword\n"
    "\n"
    "Image Content: i'm glad you're alive\n"
    "Instruction: is darker and less wordy and is darker\n"
    "Edited Description: the shirt is burgundy with a pug face on it\n"
    "\n"
    "Image Content: the penguin, the snow, the penguin, the snow, the penguin, the penguin, the penguin, the penguin,\n"
    "Instruction: The Target Image shows a single penguin standing on the ice with a fish in its beak.\n"
    "Edited Description: the penguin is holding a fish in its beak\n"
    "\n"
    "Image Content: the panda bear is sitting in the grass eating bamboo\n"
    "Instruction: Replace the panda with a group of dogs and replace the walls with wooden fences.\n"
    "Edited Description: Three dogs are laying down on a deck\n"
    "\n"
    "Image Content: The dog is playing with a dachshund on the beach\n"
    "Instruction: Remove the small dog and have the large dog face the opposite direction.\n"
    "Edited Description: The dog is standing in the sand on a beach\n"
    "\n"
    "Image Content: the dress is a silver sequined one shoulder dress\n"
    "Instruction: is lighter colored and less fitted and is a light pink color\n"
    "Edited Description: the dress is a one shoulder chiffon dress with a ruffled skirt\n"
    "\n"
    "Image Content: black and yellow hawaiian floral print sleeveless hawaiian hawaiian \n"
    "Instruction: Sexier and no vibrant colors and less revealing chest and more evening wear\n"
    "Edited Description: the dress is a black and green dress with a sleeveless bodice and a flared skirt\n";

const std::string_view kCirevlStructuralFashion =
    "\n"
    "I have an image. Given an instruction to edit the image, carefully generate a description of the \n"
    "edited image. I will put my image content beginning with “Image Content:”. The instruction I provide will begin with “Instruction:\". \n"
    "The edited description you generate should begin with “Edited Description:\". The edited description you generate should be complete and can cover various semantic aspects, such as \n"
    "cardinality, addition, negation, direct addressing, compare & change, comparative, conjunction, spatial relations & background, viewpoint. Use the examples below as reference for these aspects:\n"
    "\n"
    "\"cardinality\"\n"
    "Image Content: A bee is flying around a flower on a field.\n"
    "Instruction: Duplicate the flower the bee is flying around.\n"
    "Edited Description: A bee is flying around two flowers on a field.\n"
    "\n"
    "\"addition\"\n"
    "Image Content: A dog is walking in a grassy field.\n"
    "Instruction: Add a butterfly to the scene.\n"
    "Edited Description: A dog is walking next to a butterfly in a grassy field.\n"
    "\n"
    "\"negation\"\n"
    "Image Content: A plane flying in the cloudy sky.\n"
    "Instruction: Remove the clouds from the sky.\n"
    "Edited Description: A plane flying in the clear sky.\n"
    "\n"
    "\"direct addressing\"\n"
    "Image Content: The eiffel tower on a summer day.\n"
    "Instruction: Highlight the eiffel tower with a red circle.\n"
    "Edited Description: The eiffel tower, highlighted with a red circle, on a summer day.\n"
    "\n"
    "\"compare & change\"\n"
    "Image Content: The panda bear is sitting in the grass eating bamboo\n"
    "Instruction: Replace the panda with a group of dogs and replace the bamboo with bones.\n"
    "Edited Description: Three dogs are laying in the grass munching on some bones.\n"
    "\n"
    "\"comparative\"\n"
    "Image Content: the man is wearing a red t - shirt\n"
    "Instruction: is solid white and is a ligher color\n"
    "Edited Description: the man is wearing a solid,  light-white t-shirt.\n"
    "\n"
    "\"conjunction\"\n"
    "Image Content: Several children are playing on the ground.\n"
    "Instruction: Add both a cat and a dog to the image.\n"
    "Edited Description: Several children are playing with a cat and a dog.\n"
    "\n"
    "\"spatial relations & background\"\n"
    "Image Content: A man standing on a sled pulled by several sled dogs, next to a small wooden house.\n"
    "Instruction: Place the house behind the man, and make it much larger.\n"
    "Edited Description: A man standing on a sled pulled by several sled dogs, in front of a large wooden house.\n"
    "\n"
    "\"viewpoint\"\n"
    "Image Content: A picture of a salad bowl.\n"
    "Instruction: Change the perspective to a bird's-eye view.\n"
    "Edited Description: A salad bowl viewed from above. \n"
    " \n"
    "The edited description needs to be as simple as possible. The instruction does not need to explicitly indicate which\n"
    "type it is. Avoid adding imaginary things. Each time generate one instruction and one edited description only. Keep the edited description as short as possible. Here are some more examples for reference:\n"
    "\n"
    "Image Content: the man is wearing a white tank top and black shorts\n"
    "Instruction: looks faded and cheaper and is longer\n"
    "Edited Description: The man is wearing a faded, cheap-looking and elongated white tank top, giving a worn-out slightly oversized and more casual appearance.\n"
    "\n"
    "Image Content: the only winning move is not to play t shirt\n"
    "Instruction: The shirt is black with a skeleton and is red\n"
    "Edited Description: The image shows a black t-shirt with a red skeleton design on it. Is says \"the only winning move is not to play\".\n"
    "\n"
    "Image Content: the man is wearing a black polo shirt\n"
    "Instruction: is less formal with less buttons and is gray with no collar\n"
    "Edited Description: The man is wearing a less formal, gray polo shirt with no collar and fewer buttions, giving it a more casual and relaxed appearance.\n"
    "\n"
    "Image Content: the legend of zelda ocarina of time t-shirt\n"
    "Instruction: is green and a graphic on it and is green\n"
    "Edited Description: the shirt is green with an image of link holding a sword\n"
    "\n"
    "Image Content: The woman is wearing a tan shirt and jeans\n"
    "Instruction: is the same and appears to be exactly the same\n"
    "Edited Description: The woman is wearing a tan shirt and jeans\n"
    "\n"
    "Image Content: The woman is wearing a green top with hearts on it\n"
    "Instruction: is pinched more below the bust and is brown in color\n"
    "Edited Description: The woman is wearing a brown top with hearts on it, which is pinched more below the bust.\n"
    "\n"
    "Image Content: the woman is wearing a yellow tank top\n"
    "Instruction: is very similar but deeper red and is red\n"
    "Edited Description: The woman is wearing a deep red tank top.\n"
    "\n"
    "Image Content: the woman is wearing a polka dot dress\n"
    "Instruction: has thinner straps and is darker\n"
    "Edited Description: The woman is wearing a darker polka dot dress with thin straps, giving it a more delicate, elegant look.\n"
    "\n"
    "Image Content: the dress is a silver sequined one shoulder dress\n"
    "Instruction: is lighter colored and less fitted and is a light pink color\n"
    "Edited Description: the dress is a one shoulder chiffon dress with a ruffled skirt\n"
    "\n"
    "Image Content: black and yellow hawaiian floral print sleeveless hawaiian hawaiian \n"
    "Instruction: Sexier and no vibrant colors and less revealing chest and more evening wear\n"
    "Edited Description: the dress is a black and green dress with a sleeveless bodice and a flared skirt\n";

const std::string_view kCirevlSimple =
    "\n"
    "I have an image. Given an instruction to edit the image, carefully generate a description of the \n"
    "edited image. I will put my image content beginning with “Image Content:”. The instruction I provide will begin with “Instruction:\". \n"
    "The edited description you generate should begin with “Edited Description:\". The edited description you generate  should be complete and can cover various semantic aspects, \n"
    "including cardinality, addition, negation, direct addressing, compare & change, comparative, conjunction, spatial relations & background, viewpoint. \n"
    "The edited description needs to be as simple as possible. The instruction does not need to explicitly indicate which\n"
    "type it is. Avoid adding imaginary things. Each time generate one instruction and one edited description only. Keep the edited description as short as possible";

const std::string_view kCirevlShort =
    "\n"
    "I have an image. Given an instruction to edit the image, carefully generate a description of the \n"
    "edited image. I will put my image content beginning with “Image Content:”. The instruction I provide will begin with “Instruction:\". \n"
    "The edited description you generate should begin with “Edited Description:\". Each time generate one instruction and one edited description only.";

const std::string_view kCirevlShortFocusObject =
    "\n"
    "I have an image. Given an instruction to edit the image, carefully generate a description of the \n"
    "edited image. I will put my image content beginning with “Image Content:”. The instruction I provide will begin with “Instruction:\". \n"
    "The instruction contains an object occuring in the image. The edited description you generate should begin with \"Edited Description\".\n"
    "The edited description should list the instruction object first, then any other object and scene from the image content. \n"
    "All attributes that do not belong to the instruction object should be removed. The edited description should be a comma-separated list.\n"
    "Each time generate one edited description only. Use these three examples as reference:\n"
    "\n"
    "Image Content: There is a dining room with blue chairs and a red refrigerator.\n"
    "Instruction: refrigerator\n"
    "Edited Description: red refrigerator, chairs, dining room.\n"
    "\n"
    "Image Content: A white laptop on a yellow table in a dark room.\n"
    "Instruction: laptop\n"
    "Edited Description: white laptop, table, dark room.\n"
    "\n"
    "Image Content: A long yellow train on old and dirty tracks underneat a gray sky.\n"
    "Instruction: tracks\n"
    "Edited Description: old and dirty tracks, train, gray sky.\n";

const std::vector<PromptInfo>& all_prompts() {
  static const std::vector<PromptInfo> kAll = {
      {"seize_system", kSeizeSystem, "125af5d623c1d4b01bc399f572d297ab5b6dd1e2d3484d2fdc9945c572dd3b93", 110},
      {"seize_user_template", kSeizeUserTemplate, "63b5da17439f84ba13568bdf5b064b8bd4ab227d56e133d427a1222a070a6120", 607},
      {"blip_prompt", kCirevlBlipPrompt, "1c473f584541bcf5838910c7358e52266e481bccc975d0054cb4cf2e0655dce7", 96},
      {"contextual_modifier_prompt", kCirevlContextual,
       "a1cbc05c8922a927def74a2535155614ce07f17b708e36d8af4a6f984a074c49", 6041},
      {"structural_modifier_prompt", kCirevlStructural,
       "de0280148e3a86ef9898529882b915621b3d550867e53b9bc5256ba6b9c72096", 5043},
      {"structural_modifier_prompt_fashion", kCirevlStructuralFashion,
       "73453274fcfbb108b2181defab2f8265d29c20fda15977fc0d19c08d3ecabb56", 5133},
      {"simple_modifier_prompt", kCirevlSimple, "6fa893f6bb296e4b822e7a94d2ad4052f5ee8a760075c6c78b5e4c06fd95e29e", 841},
      {"short_modifier_prompt", kCirevlShort, "9376f02f5560cdc55eaaddb5f16b128a13819ac4f828bb261d0ca492374c6ecc", 385},
      {"short_focus_object_modifier_prompt", kCirevlShortFocusObject,
       "93db38e53e682c467b513e9a624da98d97f01693455a57e01b7b0d1a0e671188", 1181},
  };
  return kAll;
}

std::string sha256_of(std::string_view text) {
  return sha256_hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void verify_prompt(std::string_view name) {
  for (const PromptInfo& p : all_prompts()) {
    if (p.name != name) continue;
    const std::string actual = sha256_of(p.text);
    if (actual != p.expected_sha256 || p.text.size() != p.expected_bytes)
      throw Error(ErrorCode::kInternal, "embedded prompt " + std::string(name) + " changed: " +
                                            std::to_string(p.text.size()) + " bytes, sha256 " + actual +
                                            " (expected " + std::to_string(p.expected_bytes) + " bytes, " +
                                            std::string(p.expected_sha256) + ")");
    return;
  }
  throw Error(ErrorCode::kInternal, "no embedded prompt named " + std::string(name));
}

std::string format_positional(std::string_view templ, const std::vector<std::string>& args) {
  std::string out;
  size_t next_arg = 0, pos = 0;
  for (size_t at = templ.find("{}"); at != std::string_view::npos; at = templ.find("{}", pos)) {
    if (next_arg >= args.size())
      throw Error(ErrorCode::kInternal, "prompt template has more {} placeholders than arguments");
    out.append(templ.substr(pos, at - pos));
    out += args[next_arg++];
    pos = at + 2;
  }
  out.append(templ.substr(pos));
  return out;
}

}  // namespace cir::gen::prompts
