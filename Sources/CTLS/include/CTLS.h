#pragma once
int ctls_placeholder(void);
