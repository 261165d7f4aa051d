// The accounts page: show the code field the role needs, prefill the union's name from the
// district chosen, and take no typed password when a random one is to be generated.
"use strict";
(() => {
  const role = document.getElementById("role");
  const district = document.getElementById("district");
  const name = document.getElementById("name");
  const generate = document.getElementById("generate");
  const password = document.getElementById("new-password");
  if (!role) {
    return;
  }
  let prefilled = "";
  const showFor = () => {
    for (const el of document.querySelectorAll(".for-district")) {
      el.classList.toggle("hidden", role.value !== "district");
    }
    for (const el of document.querySelectorAll(".for-industry")) {
      el.classList.toggle("hidden", role.value !== "industry");
    }
    if (role.value === "admin" && (!name.value || name.value === prefilled)) {
      name.value = prefilled = "重庆市总工会";
    }
  };
  role.addEventListener("change", showFor);
  district.addEventListener("change", () => {
    const option = district.selectedOptions[0];
    if (option && option.dataset.name && (!name.value || name.value === prefilled)) {
      name.value = prefilled = option.dataset.name + "总工会";
    }
  });
  generate.addEventListener("change", () => {
    password.disabled = generate.checked;
    if (generate.checked) {
      password.value = "";
    }
  });
  showFor();
})();
