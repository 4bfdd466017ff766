// Factories of the learned and caption-based methods (registered in registry.cpp), and the
// option helpers they share.
#pragma once

#include <optional>
#include <string>

#include "cir/compose.h"

namespace cir::compose {

std::shared_ptr<const Method> make_searle();      ///< "searle": phi pseudo-token
std::shared_ptr<const Method> make_searle_oti();  ///< "searle-oti": per-reference OTI
std::shared_ptr<const Method> make_pic2word();    ///< "pic2word": IM2TEXT pseudo-token
std::shared_ptr<const Method> make_seize();       ///< "seize": semantic editing search
std::shared_ptr<const Method> make_ldre();        ///< "ldre": divergent caption ensemble
std::shared_ptr<const Method> make_combiner();    ///< "combiner": CLIP4Cir Combiner
std::shared_ptr<const Method> make_spn();         ///< "spn": SPN4CIR text tower + sum
std::shared_ptr<const Method> make_sprc();        ///< "sprc": SPRC early fusion inside the model
std::shared_ptr<const Method> make_cirevl();      ///< "cirevl": CIReVL edited caption as text

namespace detail {

/// The option's value, or nullopt when not given.
std::optional<std::string> find_option(const ComposeContext& context, const std::string& name);
/// The option's value; kInvalidArgument naming the method, the option and how to give it.
/// A trained head's checkpoint: the option's value when given, else `heads/<default_file>` inside
/// the loaded CLIP's directory when that exists (models/shapes-clip ships its heads there), else
/// kInvalidArgument naming the option and both places looked at.
std::string head_option(const ComposeContext& context, const std::string& method, const std::string& name,
                        const std::string& default_file, const std::string& what);
std::string require_option(const ComposeContext& context, const std::string& method, const std::string& name,
                           const std::string& what);
/// A numeric option (default when absent); kInvalidArgument when not a number.
double number_option(const ComposeContext& context, const std::string& method, const std::string& name,
                     double default_value);
/// A yes/no option (default when absent): 1/0, true/false, yes/no, on/off; kInvalidArgument
/// otherwise.
bool bool_option(const ComposeContext& context, const std::string& method, const std::string& name, bool default_value);

}  // namespace detail
}  // namespace cir::compose
