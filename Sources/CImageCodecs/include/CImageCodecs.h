#pragma once
int CImageCodecs_placeholder(void);
